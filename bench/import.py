"""Benchmark: import 100,000 CSV rows into a fresh project on PostgreSQL, then the same file again.

    .venv/bin/python bench/import.py [--rows 100000] [--record]
    .venv/bin/python bench/import.py --sqlite [--rows 1200000] [--raters 4] [--record]

With --sqlite: the embedded default instead, a file uploaded through the web page to a worker
while raters label another project (bench/import_embedded.py says what it measures).

The database comes from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/accord_bench,
created with `createdb` and migrated when missing). The run is `import_job_run`, the service the
Celery task and `manage.py import_items` call, timed from the job's start to its end; the upload
is stored first and not counted. Peak memory is the process's maximum resident set size;
python_cpu_s and postgres_cpu_s split the work between this process and its database backend
(the rest of the wall time is waiting, e.g. for a CPU on a busy machine; `load` is the 1-minute
load average when the run started). `--record` appends the figures and the machine to
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accord_bench"
RESULTS = ROOT / "bench" / "RESULTS.md"

SENTENCES = [
    "The app crashes when I open settings after the update.",
    "My invoice shows the wrong plan.",
    "Please refund the duplicate charge on my card.",
    "Thanks for the quick fix, it works now!",
    "Export to CSV is missing the date column.",
    "Can I pay by bank transfer instead?",
    "The dashboard is very slow on Firefox.",
    "Login fails with two-factor codes from my authenticator.",
    "Where do I change my email address?",
    "Great support team, love the new dark mode.",
    "Sync stopped on my phone since Tuesday.",
    "Search ignores accents: café and cafe give different results.",
    "Notifications arrive twice.",
    "I was charged after cancelling my trial.",
    "Could you add keyboard shortcuts to the editor?",
    "Das Menü öffnet sich nicht mehr.",
    "Impossible de télécharger la facture de mars.",
    "ok",
]
SOURCES = ["email", "chat", "phone", "app-review", "survey"]
LANGUAGES = ["en", "en", "en", "de", "fr", "es"]
LABELS = ["positive", "negative", "neutral"]


def write_csv(path: Path, rows: int, *, seed: int = 7) -> None:
    """Support-message-like rows: one to 25 sentences (a few with quotes, commas and line
    breaks), four extra columns, a priority on some and a gold answer on 2%."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["key", "text", "gold", "priority", "source", "lang", "customer_id", "sent"]
        )
        for number in range(rows):
            sentences = min(int(rng.lognormvariate(0.8, 0.8)) + 1, 25)
            text = " ".join(rng.choices(SENTENCES, k=sentences)) + f" (ref {number})"
            if number % 97 == 0:
                text += '\nSent from my phone, "quoted" and, with commas'
            writer.writerow(
                [
                    f"msg-{number:07d}",
                    text,
                    rng.choice(LABELS) if number % 50 == 0 else "",
                    rng.choice(["", "", "", "1", "2.5"]),
                    rng.choice(SOURCES),
                    rng.choice(LANGUAGES),
                    str(rng.randrange(1, 50_000)),
                    f"2026-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}",
                ]
            )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def ensure_database(url: str) -> None:
    """Create the database when missing; migrate it either way."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    result = subprocess.run(
        ["createdb", "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432),
         "-U", parsed.username or "postgres", name],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0 and "already exists" not in result.stderr:
        sys.exit(f"createdb {name} failed: {result.stderr.strip()}")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def machine() -> str:
    def run(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False).stdout
        except OSError:
            return "?"

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    memory = run("free", "-g").splitlines()
    total_gb = memory[1].split()[1] if len(memory) > 1 else "?"
    return (
        f"{run('nproc').strip()} cores, {total_gb} GiB memory (`free -g`), "
        f"{platform.platform()}, Python {platform.python_version()}, PostgreSQL {postgres}"
    )


def backend_cpu_seconds() -> float | None:
    """CPU time of this connection's PostgreSQL backend, when the server runs on this machine
    and /proc is readable (else None)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="fresh projects to import into")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the bench projects")
    parser.add_argument(
        "--sqlite", action="store_true", help="the embedded default: upload through the page"
    )
    parser.add_argument("--raters", type=int, default=4, help="--sqlite: raters labeling")
    parser.add_argument("--think", type=float, default=0.5, help="--sqlite: seconds per item")
    options = parser.parse_args()
    if options.sqlite:
        embedded(options)
        return

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "0"
    os.environ.pop("REDIS_URL", None)  # run in-process: no broker involved
    work = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    os.environ["MEDIA_ROOT"] = str(work / "media")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.files import File
    from django.db import connection

    from projects.services.imports import import_job_create, import_job_run
    from tests.factories import UserFactory, make_project

    ensure_database(os.environ["DATABASE_URL"])
    path = work / "messages.csv"
    write_csv(path, options.rows)
    size_mb = path.stat().st_size / 2**20
    lead: Any = UserFactory(username="bench-lead")
    header = (
        f"csv: {options.rows} rows, {size_mb:.1f} MB; peak RSS before importing "
        f"{peak_rss_mb():.0f} MB"
    )
    print(header, flush=True)

    lines = []
    first_rates = []
    for _ in range(options.runs):
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE projects_item")  # earlier runs' deleted rows
        project = make_project(lead=lead, name=f"bench {time.strftime('%Y-%m-%d %H:%M:%S')}")
        for run_name in ("import.csv", "import.csv.again"):
            with path.open("rb") as handle:
                job = import_job_create(
                    project=project, uploaded_file=File(handle, name=path.name),
                    created_by=lead, source="cli", enqueue=False,
                )  # fmt: skip
            load = os.getloadavg()[0]
            pg_before = backend_cpu_seconds()
            cpu_before = time.process_time()
            started = time.perf_counter()
            job = import_job_run(job_id=job.pk)
            seconds = time.perf_counter() - started
            python_cpu = time.process_time() - cpu_before
            pg_after = backend_cpu_seconds()
            if job.status != "succeeded":
                sys.exit(f"{run_name} failed: {job.message} {job.errors[:3]}")
            rows = job.total or 0
            pg_cpu = f"{pg_after - pg_before:.2f}" if pg_before and pg_after else "?"
            line = (
                f"{run_name} rows={rows} created={job.created_count} "
                f"duplicates={job.duplicate_count} seconds={seconds:.2f} "
                f"items/s={rows / seconds:,.0f} peak_rss_mb={peak_rss_mb():.0f} "
                f"python_cpu_s={python_cpu:.2f} postgres_cpu_s={pg_cpu} load={load:.1f}"
            )
            print(line, flush=True)
            lines.append(line)
            if run_name == "import.csv":
                first_rates.append(rows / seconds)
        if not options.keep:
            # In SQL: Django's delete() would load the 100,000 items to cascade, and inflate
            # the next run's peak memory.
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM projects_item WHERE project_id = %s", [project.pk])
            project.delete()
    summary = (
        f"import.csv best items/s={max(first_rates):,.0f} "
        f"median items/s={statistics.median(first_rates):,.0f} over {len(first_rates)} runs"
    )
    print(summary)

    if options.record:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n", encoding="utf-8")
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## {date.today().isoformat()}: import of {options.rows:,} CSV rows "
                f"({size_mb:.1f} MB) on PostgreSQL\n\n"
                f"Machine: {machine()}.\n"
                f"Command: `.venv/bin/python bench/import.py --runs {options.runs} --record`.\n\n"
                "```\n" + "\n".join([header, *lines, summary]) + "\n```\n"
            )
    for stored in (work / "media").rglob("*"):
        if stored.is_file():
            stored.unlink()


def embedded(options: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from import_embedded import run

    rows = options.rows if options.rows != 100_000 else 1_200_000
    lines = run(
        rows=rows, raters=options.raters, think=options.think, items=20_000, write_csv=write_csv
    )
    print("\n".join(lines))
    if options.record:
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## {date.today().isoformat()}: import of {rows:,} CSV rows on the embedded "
                f"default, uploaded through the page while raters label\n\n"
                f"Machine: {os.cpu_count()} cores, {platform.platform()}, Python "
                f"{platform.python_version()}, SQLite.\n"
                f"Command: `.venv/bin/python bench/import.py --sqlite --rows {rows} "
                f"--raters {options.raters} --record`.\n\n```\n" + "\n".join(lines) + "\n```\n"
            )


if __name__ == "__main__":
    main()
