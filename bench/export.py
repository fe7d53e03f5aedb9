"""Benchmark: a dataset version of 1,000,000 labeled items on PostgreSQL, with Parquet, JSON Lines
and CSV (and the manifest, dataset card and Croissant metadata).

    .venv/bin/python bench/export.py [--items 1000000] [--runs 1] [--no-download] [--record]

The project (made once with SQL, then reused; found by its name): `--items` text items of 60-140
characters, each with a label of record (5 labels, skewed; one in twenty a lead's resolution,
the rest a consensus with its confidence) resting on three annotation ids, and its agreement
row. Only the rows a build reads: no annotation, assignment or history rows.

Each run is `manage.py build_version` in a child process (its peak memory is the child's maximum
resident set), timed by the version's job row (started to finished, so Django's start-up is not
counted). The project's earlier versions are deleted first, so every run builds (the same spec
over the same labels would otherwise end "unchanged" at once). Target (issue 11): at most 15 s
and 500 MB.

Then the download: gunicorn (`--workers` sync workers, as `make run` serves Accord, so that a
whole file goes out with sendfile) on a free port of 127.0.0.1, and a pipeline with a project
token reading each data file of the last version through the datasets API, one stream at a
time (the median of five) and then `--streams` at once, 1 MiB reads thrown away. Target
(issue 11): at least 200 MB/s.

The database comes from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/accord_bench,
created and migrated when missing). `--record` appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accord_bench"
RESULTS = ROOT / "bench" / "RESULTS.md"
LABELS = ["cat", "dog", "bird", "fish", "other"]
DOWNLOAD_RUNS = 5


def setup() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    url = os.environ["DATABASE_URL"]
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/export.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    name = url.rsplit("/", 1)[-1]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name],
                   capture_output=True, check=False)  # fmt: skip
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def project_of(items: int) -> Any:
    """The bench's project, made with SQL the first time."""
    from django.db import connection

    from projects.models import Project
    from projects.services.projects import project_create

    name = f"bench: export, {items:,} labeled items"
    project = Project.objects.filter(name=name).first()
    if project is not None:
        return project
    labels = [
        {"value": value, "display_name": value.title(), "color": "#4f6bed", "hotkey": str(n + 1)}
        for n, value in enumerate(LABELS)
    ]
    project = project_create(created_by=None, name=name, raters_per_item=3, labels=labels)
    # Labels skewed as in bench/agreement.py: cat 40%, dog 25%, bird 15%, fish 12%, other 8%.
    label_of = (
        "CASE WHEN h < 40 THEN 'cat' WHEN h < 65 THEN 'dog' WHEN h < 80 THEN 'bird'"
        " WHEN h < 92 THEN 'fish' ELSE 'other' END"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projects_item (project_id, key, text, data, content_hash, status,"
            " slots_taken, annotation_count, priority, shuffle_key, is_gold, change_count,"
            " extra_slots, created_at, updated_at)"
            " SELECT %s, 'k' || g, 'Message ' || g || ': ' || repeat('the parcel came late ',"
            " 2 + g %% 5), '{}', md5(g::text), 'agreed', 3, 3, 0,"
            " (g * 2654435761) %% 2147483647, false, 3, 0, now(), now()"
            " FROM generate_series(1, %s) g",
            [project.pk, items],
        )
        cursor.execute(
            "INSERT INTO agreement_itemagreement (item_id, project_id, change_count,"
            " n_annotations, observed, consensus, method, confidence, tie, passes, label_pair,"
            " annotation_ids, evaluated_at)"
            f" SELECT id, project_id, 3, 3, CASE WHEN id %% 3 = 0 THEN 1.0 ELSE 1.0 / 3 END,"
            f" to_jsonb({label_of}), 'majority', CASE WHEN id %% 3 = 0 THEN 1.0 ELSE 2.0 / 3 END,"
            " false, true, '', jsonb_build_array(3 * id, 3 * id + 1, 3 * id + 2), now()"
            " FROM (SELECT id, project_id, (id * 7919) %% 100 AS h FROM projects_item"
            " WHERE project_id = %s) AS i",
            [project.pk],
        )
        cursor.execute(
            "INSERT INTO agreement_labelofrecord (item_id, project_id, value, source, method,"
            " confidence, annotations, updated_at)"
            " SELECT a.item_id, a.project_id, a.consensus,"
            " CASE WHEN a.item_id %% 20 = 0 THEN 'resolution' ELSE 'consensus' END,"
            " CASE WHEN a.item_id %% 20 = 0 THEN 'lead' ELSE 'majority' END,"
            " CASE WHEN a.item_id %% 20 = 0 THEN NULL ELSE a.confidence END,"
            " jsonb_build_object((3 * a.item_id)::text, 1, (3 * a.item_id + 1)::text, 1,"
            " (3 * a.item_id + 2)::text, 2), now()"
            " FROM agreement_itemagreement a WHERE a.project_id = %s",
            [project.pk],
        )
        for table in ("projects_item", "agreement_itemagreement", "agreement_labelofrecord"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return project


def machine() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores (nproc), {memory_kb / 2**20:.0f} GiB memory, "
        f"{platform.platform()}, Python {platform.python_version()}, PostgreSQL {postgres}. "
        f"Load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def forget(project: Any) -> None:
    """The project's earlier versions and their files, gone."""
    from exports.models import DatasetVersion
    from exports.services.build import storage_prefix, stored_files_delete

    versions = list(DatasetVersion.objects.filter(project=project))
    DatasetVersion.objects.filter(project=project).update(parent=None)
    for version in versions:
        stored_files_delete(storage_prefix(version))
        version.delete()


def build(project: Any) -> tuple[float, float, Any]:
    """Run `manage.py build_version` in a child; (seconds by the job row, child peak MB, the
    version)."""
    from exports.models import DatasetVersion

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "build_version", str(project.pk)],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    version = DatasetVersion.objects.filter(project=project).order_by("-pk").first()
    assert version is not None and version.started_at and version.finished_at
    seconds = (version.finished_at - version.started_at).total_seconds()
    # ru_maxrss of children is the largest of any child so far: the runs grow or stay.
    return seconds, max(peak_kb, before) / 1024, version


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_all(port: int, path: str, token: str) -> int:
    """GET `path` and read its body 1 MiB at a time; the bytes read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request("GET", path, headers={"Authorization": f"Token {token}"})
    response = connection.getresponse()
    if response.status != 200:
        sys.exit(f"GET {path}: {response.status} {response.read()[:300]!r}")
    size = 0
    while chunk := response.read(1 << 20):
        size += len(chunk)
    connection.close()
    return size


def downloads(project: Any, version: Any, workers: int, streams: int) -> list[str]:
    """Each data file of `version` through gunicorn, one stream, then `streams` at once."""
    from django.contrib.auth import get_user_model

    from projects.models import Role
    from projects.services.tokens import project_token_create

    lead, _ = get_user_model().objects.get_or_create(username="bench-export-lead")
    project.memberships.get_or_create(user=lead, defaults={"role": Role.LEAD})
    _, token = project_token_create(project=project, created_by=lead, name="bench download")
    port = free_port()
    env = {**os.environ, "DEBUG": "0"}
    log = (ROOT / "var" / "bench-export-gunicorn.log").open("w")
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
         "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"/api/v1/projects/{project.pk}/datasets/versions/{version.pk}"
    lines = []
    try:
        deadline = time.monotonic() + 60
        while True:  # until gunicorn answers
            try:
                read_all(port, f"{base}/manifest/", token)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("gunicorn did not answer; see var/bench-export-gunicorn.log")
                time.sleep(0.2)
        for file in version.files.filter(name__startswith="data.").order_by("name"):
            timings = []
            for _ in range(DOWNLOAD_RUNS):  # the median: a worker's first request warms it
                began = time.perf_counter()
                size = read_all(port, f"{base}/files/{file.name}", token)
                timings.append(time.perf_counter() - began)
                assert size == file.size, (file.name, size, file.size)
            seconds = statistics.median(timings)
            lines.append(
                f"export.download file={file.name} streams=1 mb={size / 1e6:.1f} "
                f"runs={DOWNLOAD_RUNS} median_seconds={seconds:.3f} "
                f"mb_per_s={size / 1e6 / seconds:.0f}"
            )
            print(lines[-1], flush=True)
        biggest = version.files.filter(name__startswith="data.").order_by("-size").first()
        sizes: list[int] = []
        threads = [
            threading.Thread(target=lambda: sizes.append(
                read_all(port, f"{base}/files/{biggest.name}", token)))
            for _ in range(streams)
        ]  # fmt: skip
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        lines.append(
            f"export.download file={biggest.name} streams={streams} "
            f"mb={sum(sizes) / 1e6:.1f} seconds={seconds:.2f} "
            f"mb_per_s={sum(sizes) / 1e6 / seconds:.0f} workers={workers}"
        )
        print(lines[-1], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-download", action="store_true", help="build only")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--streams", type=int, default=3, help="downloads at once")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    options = parser.parse_args()
    setup()
    project = project_of(options.items)
    where = machine()
    lines = [f"export.project items={options.items} labels={len(LABELS)}"]
    for run in range(options.runs):
        forget(project)
        seconds, peak_mb, version = build(project)
        data_files = version.files.filter(name__startswith="data.")
        sizes = " ".join(f"{f.name}_mb={f.size / 1e6:.1f}" for f in data_files)
        lines.append(
            f"export.build run={run + 1} seconds={seconds:.2f} peak_mb={peak_mb:.0f} "
            f"rows={version.row_count} status={version.status} {sizes}"
        )
        print(lines[-1], flush=True)
    if not options.no_download:
        lines += downloads(project, version, options.workers, options.streams)
    if options.record:
        command = "python bench/export.py " + " ".join(sys.argv[1:])
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## {date.today().isoformat()}: a dataset version of {options.items:,} "
                f"labeled items (Parquet, JSON Lines, CSV)\n\nMachine: {where}.\n"
                f"Command: `{command.strip()}`.\n\n```\n" + "\n".join(lines) + "\n```\n"
            )


if __name__ == "__main__":
    main()
