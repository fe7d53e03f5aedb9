"""Benchmark: import 100,000 annotations (a crowd's labels, k raters per item) into a fresh
project on PostgreSQL; then the same file again, and the file with a tenth of its values changed.

    .venv/bin/python bench/annotation_import.py [--rows 100000] [--raters-per-item 3]

The database comes from DATABASE_URL (default postgres://postgres@127.0.0.1:5432/accord_bench,
created with `createdb` and migrated when missing). The run is `annotation_import_run`, the
service the Celery task and `manage.py import_annotations` call, timed from the job's start to
its end (reading, the external raters, and the batches); the upload is stored first and not
counted. Prints one line per run:

    annotation_import run=first rows=100000 seconds=... rows/s=... created=... changed=...

with the CPU time of this process and of its PostgreSQL backend (on a busy machine the wall
time is mostly waiting for a CPU; `load` is the 1-minute load average at the start). Each
batch calls agreement's evaluation of its items (labeling.changes), whose cost is part of the
figures; `--without-agreement` measures the import alone.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accord_bench"
LABELS = ["positive", "negative", "neutral"]


def write_csv(path: Path, *, rows: int, per_item: int, crowd: int, seed: int = 7,
              changed: float = 0.0) -> None:  # fmt: skip
    """`rows` labels, `per_item` distinct workers (of `crowd`) on each item, with a time and a
    duration; with `changed`, that share of the values differs from the seed's."""
    rng = random.Random(seed)
    flip = random.Random(seed + 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_key", "rater", "value", "created_at", "time_spent_ms", "hit"])
        written = 0
        item = 0
        while written < rows:
            for worker in rng.sample(range(crowd), per_item):
                if written == rows:
                    break
                value = rng.choice(LABELS)
                if changed and flip.random() < changed:
                    value = LABELS[(LABELS.index(value) + 1) % len(LABELS)]
                writer.writerow([
                    f"msg-{item:07d}", f"W{worker:05d}", value,
                    f"2025-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}T"
                    f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
                    rng.randrange(2_000, 60_000), f"hit-{item // 10}",
                ])  # fmt: skip
                written += 1
            item += 1


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--raters-per-item", type=int, default=3)
    parser.add_argument("--crowd", type=int, default=200, help="distinct workers in the file")
    parser.add_argument("--keep", action="store_true", help="keep the bench project")
    parser.add_argument(
        "--without-agreement",
        action="store_true",
        help="unhook agreement's evaluation from labeling.changes: the import's own cost alone",
    )
    options = parser.parse_args()

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "0"
    os.environ.pop("REDIS_URL", None)  # in-process: no broker involved
    work = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    os.environ["MEDIA_ROOT"] = str(work / "media")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))

    import django

    django.setup()
    from django.core.files import File
    from django.db import connection

    from labeling.counters import counters_recount
    from labeling.imports import annotation_import_create, annotation_import_run
    from projects.models import Item
    from projects.services.imports import shuffle_key_for
    from tests.factories import UserFactory, make_project

    # bench/import.py's: create the database when missing (migrated either way), and the CPU
    # time of this connection's PostgreSQL backend.
    items_bench = importlib.import_module("import")
    items_bench.ensure_database(os.environ["DATABASE_URL"])
    if options.without_agreement:
        from labeling import changes

        changes._listeners.clear()
    per_item = options.raters_per_item
    lead: Any = UserFactory(username="bench-lead")
    project = make_project(
        lead=lead, name=f"annotation bench {time.strftime('%Y-%m-%d %H:%M:%S')}",
        raters_per_item=per_item,
    )  # fmt: skip
    item_count = -(-options.rows // per_item)
    Item.objects.bulk_create(
        (
            Item(project=project, key=(key := f"msg-{n:07d}"), text=f"Message {n}",
                 content_hash=f"{n:064x}", shuffle_key=shuffle_key_for(key))
            for n in range(item_count)
        ),
        batch_size=5_000,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE projects_item")
    first, changed = work / "crowd.csv", work / "crowd-changed.csv"
    shape = dict(rows=options.rows, per_item=per_item, crowd=options.crowd)
    write_csv(first, **shape)
    write_csv(changed, **shape, changed=0.1)
    print(f"project {project.pk}: {item_count} items, k={per_item}; csv {options.rows} rows, "
          f"{first.stat().st_size / 2**20:.1f} MB", flush=True)  # fmt: skip
    for name, path in (("first", first), ("again", first), ("changed", changed)):
        with path.open("rb") as handle:
            job = annotation_import_create(
                project=project, uploaded_file=File(handle, name=path.name), created_by=lead,
                source="cli", enqueue=False,
            )  # fmt: skip
        load = os.getloadavg()[0]
        pg_before = items_bench.backend_cpu_seconds()
        cpu_before = time.process_time()
        started = time.perf_counter()
        job = annotation_import_run(job_id=job.pk)
        seconds = time.perf_counter() - started
        python_cpu = time.process_time() - cpu_before
        pg_after = items_bench.backend_cpu_seconds()
        pg_cpu = f"{pg_after - pg_before:.2f}" if pg_before and pg_after else "?"
        if job.status != "succeeded":
            sys.exit(f"{name} failed: {job.message} {job.errors[:3]}")
        print(
            f"annotation_import run={name} rows={job.row_count} seconds={seconds:.2f} "
            f"rows/s={job.row_count / seconds:,.0f} created={job.created_count} "
            f"changed={job.changed_count} unchanged={job.unchanged_count} "
            f"external_raters={job.external_rater_count} peak_rss_mb={peak_rss_mb():.0f} "
            f"python_cpu_s={python_cpu:.2f} postgres_cpu_s={pg_cpu} load={load:.1f}",
            flush=True,
        )
    started = time.perf_counter()
    report = counters_recount(project=project, fix=False)
    print(f"recount --check: {'clean' if report.clean else report.changes[:5]} "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    if not options.keep:
        # The cascade takes a while (a few minutes for 100,000 labels), and is not timed.
        project.delete()


if __name__ == "__main__":
    main()
