"""Benchmark: a full agreement recompute of a project with 1,000,000 annotations on PostgreSQL.

    .venv/bin/python bench/agreement.py [--items 333334] [--rule majority] [--record]

The project (made once with SQL, then reused; found by its name): `--items` items x 3 raters
out of 50, 5 labels; each item has a true label (skewed: the first label is the most common),
each rater an accuracy between 0.55 and 0.95, and a rater who misses picks another label at
random. Annotations only: no assignment or revision rows, which the recompute does not read.

Two runs, each `manage.py agreement_recompute` in a child process (its peak memory is the
child's maximum resident set), timed by the job row (started to finished, so Django's start-up
is not counted):
- cold: the project's agreement rows are deleted first and its items set back to labeled, so
  every item's outcome, label of record and conflict is written;
- warm: straight after, nothing has changed, and nothing is written.
Target (issue 10): at most 10 s and 1 GB, database read and writes included.

The database comes from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/accord_bench,
created and migrated when missing). `--record` appends the figures to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accord_bench"
RESULTS = ROOT / "bench" / "RESULTS.md"
RATERS = 50
LABELS = ["cat", "dog", "bird", "fish", "other"]
PRIOR = np.array([0.4, 0.25, 0.15, 0.12, 0.08])


def setup() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    url = os.environ["DATABASE_URL"]
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/agreement.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    name = url.rsplit("/", 1)[-1]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name],
                   capture_output=True, check=False)  # fmt: skip
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def project_of(items: int, rule: str) -> Any:
    """The bench's project, made with SQL and COPY the first time."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from labeling.members import membership_set
    from projects.models import Label, Project, Role
    from projects.services.projects import project_create

    name = f"bench: agreement, {items:,} items x 3 raters"
    project = Project.objects.filter(name=name).first()
    if project is not None:
        Project.objects.filter(pk=project.pk).update(agreement_rule=rule)
        project.refresh_from_db()
        return project
    labels = [
        {"value": value, "display_name": value.title(), "color": "#4f6bed", "hotkey": str(n + 1)}
        for n, value in enumerate(LABELS)
    ]
    project = project_create(
        created_by=None, name=name, raters_per_item=3, labels=labels, agreement_rule=rule
    )
    accounts = get_user_model()
    raters = [accounts.objects.get_or_create(username=f"bench-agreement-{n}")[0]
              for n in range(RATERS)]  # fmt: skip
    for rater in raters:
        membership_set(project=project, user=rater, role=Role.RATER)
    label_ids = list(
        Label.objects.filter(project=project).order_by("position").values_list("pk", flat=True)
    )
    rng = np.random.default_rng(2010)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projects_item (project_id, key, text, data, content_hash, status,"
            " slots_taken, annotation_count, priority, shuffle_key, is_gold, change_count,"
            " extra_slots, created_at, updated_at)"
            " SELECT %s, 'k' || g, 'text ' || g, '{}', md5(g::text), 'labeled', 3, 3, 0,"
            " (g * 2654435761) %% 2147483647, false, 3, 0, now(), now()"
            " FROM generate_series(1, %s) g",
            [project.pk, items],
        )
        cursor.execute(
            "SELECT id FROM projects_item WHERE project_id = %s ORDER BY id", [project.pk]
        )
        item_ids = np.asarray([row[0] for row in cursor.fetchall()], dtype=np.int64)
    truth = rng.choice(len(LABELS), size=items, p=PRIOR)
    accuracy = rng.uniform(0.55, 0.95, size=RATERS)
    first = rng.integers(0, RATERS, size=items)
    step = rng.integers(1, RATERS // 3, size=items)
    rater_index = np.stack([first, (first + step) % RATERS, (first + 2 * step) % RATERS], axis=1)
    right = rng.random((items, 3)) < accuracy[rater_index]
    wrong = (truth[:, None] + rng.integers(1, len(LABELS), size=(items, 3))) % len(LABELS)
    given = np.where(right, truth[:, None], wrong)
    rater_ids = np.asarray([r.pk for r in raters])
    label_array = np.asarray(label_ids)
    # Three labels a minute or so apart, spread over some weeks.
    seconds = 1_733_000_000 + np.arange(items * 3, dtype=np.int64) * 7
    stamps = np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]")), "+00")
    spent = 4000 + seconds % 7000
    buffer = io.StringIO()
    rows = zip(item_ids.tolist(), rater_ids[rater_index].tolist(),
               label_array[given].tolist(), strict=True)  # fmt: skip
    for n, (item_id, raters_of, labels_of) in enumerate(rows):
        for j in range(3):
            at = 3 * n + j
            buffer.write(
                f"{project.pk}\t{item_id}\t{raters_of[j]}\t{labels_of[j]}\t\\N\t{uuid_of(at)}\t"
                f"{spent[at]}\t1\t{stamps[at]}\t{stamps[at]}\n"
            )
    buffer.seek(0)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            "COPY labeling_annotation (project_id, item_id, rater_id, label_id, rating, client_id,"
            " time_spent_ms, revision, created_at, updated_at) FROM STDIN"
        ) as copy:
            copy.write(buffer.getvalue())
        cursor.execute("ANALYZE projects_item")
        cursor.execute("ANALYZE labeling_annotation")
    return project


def uuid_of(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


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
    """Back to before any evaluation: no agreement rows, items labeled."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "agreement_itemevent",
            "agreement_labelofrecord",
            "agreement_conflict",
            "agreement_itemagreement",
            "agreement_raterquality",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project.pk])
        cursor.execute(
            "UPDATE projects_item SET status = 'labeled' WHERE project_id = %s", [project.pk]
        )
        cursor.execute("VACUUM ANALYZE projects_item")


def recompute(project: Any) -> tuple[float, float, Any]:
    """Run `manage.py agreement_recompute` in a child; (seconds by the job row, child peak
    MB, the job)."""
    from agreement.models import AgreementRecompute

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "agreement_recompute", str(project.pk)],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    job = AgreementRecompute.objects.filter(project=project).order_by("-pk").first()
    assert job is not None and job.started_at and job.finished_at
    seconds = (job.finished_at - job.started_at).total_seconds()
    # ru_maxrss of children is the largest of any child so far: the runs grow or stay.
    return seconds, max(peak_kb, before) / 1024, job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=333_334)
    parser.add_argument("--rule", default="majority")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    options = parser.parse_args()
    setup()
    from labeling.models import Annotation

    project = project_of(options.items, options.rule)
    annotations = Annotation.objects.filter(project=project).count()
    where = machine()
    forget(project)
    cold_s, cold_mb, cold = recompute(project)
    warm_s, warm_mb, warm = recompute(project)
    lines = [
        f"agreement.project items={options.items} annotations={annotations} raters={RATERS} "
        f"labels={len(LABELS)} rule={options.rule}",
        f"agreement.recompute run=cold seconds={cold_s:.2f} items_changed={cold.items_changed} "
        f"peak_mb={cold_mb:.0f}",
        f"agreement.recompute run=warm seconds={warm_s:.2f} items_changed={warm.items_changed} "
        f"peak_mb={warm_mb:.0f}",
    ]
    print("\n".join(lines))
    if options.record:
        command = "python bench/agreement.py " + " ".join(sys.argv[1:])
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## {date.today().isoformat()}: a full agreement recompute of "
                f"{annotations:,} annotations\n\nMachine: {where}.\n"
                f"Command: `{command.strip()}`.\n\n```\n" + "\n".join(lines) + "\n```\n"
            )


if __name__ == "__main__":
    main()
