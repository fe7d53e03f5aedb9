"""A build run by a real Celery worker that is killed midway (SIGKILL: no handler runs, as when
the kernel's OOM killer or a lost machine ends it): the version stays running until its
heartbeat is stale, nothing of it is in storage, and a retry on a fresh worker builds it whole.

On PostgreSQL with Redis, as in production; on the embedded default too (SQLite, a worker
through files)."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.conf import settings as live
from django.core.files.storage import default_storage
from django.utils import timezone

from agreement.models import ItemAgreement, LabelOfRecord, LabelSource, Method
from core.jobs.models import JobStatus
from core.jobs.services import job_is_stalled
from exports.models import DatasetVersion
from exports.services.build import (
    PHASE_ROWS,
    dataset_version_request,
    dataset_version_retry,
    storage_prefix,
    stored_files_delete,
    stored_names,
    work_directory,
)
from labeling.assignment import item_claim
from labeling.services import annotation_submit
from tests.conftest import wait_for
from tests.factories import UserFactory, make_items, make_project

ITEMS = 2000


def labeled_project() -> Any:
    """A project whose first items are labeled through the services, and whose many others
    get their labels of record written directly: enough rows for a build that lasts while a
    test kills its worker (one row a batch), without thousands of submits."""
    alice, bob, carol = (UserFactory(username=name) for name in ("alice", "bob", "carol"))
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2, name="Killed")
    items = make_items(project, ITEMS)
    for rater in (bob, carol):
        for _ in range(10):
            hold = item_claim(project=project, rater=rater, hold=1)[0]
            annotation_submit(project=project, item_id=hold.item.pk, rater=rater,
                              value="positive", client_id=uuid.uuid4())  # fmt: skip
    done = set(LabelOfRecord.objects.filter(project=project).values_list("item_id", flat=True))
    assert len(done) == 10
    now = timezone.now()
    rest = [item for item in items if item.pk not in done]
    LabelOfRecord.objects.bulk_create([
        LabelOfRecord(item=item, project=project, value="negative", source=LabelSource.CONSENSUS,
                      method=Method.MAJORITY, confidence=1.0, annotations={}, updated_at=now)
        for item in rest
    ])  # fmt: skip
    ItemAgreement.objects.bulk_create([
        ItemAgreement(item=item, project=project, n_annotations=2, observed=1.0,
                      consensus="negative", method=Method.MAJORITY, confidence=1.0, passes=True,
                      evaluated_at=now)
        for item in rest
    ])  # fmt: skip
    return project


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_midway_leaves_no_file_and_a_retry_builds_the_version(
    transactional_db: None, celery_worker_to_kill: Any, settings: Any, tmp_path: Path
) -> None:
    # The workers store files where the test settings say (not in this test's own media
    # root); the build directory is given to them.
    settings.MEDIA_ROOT = Path(live.VAR_DIR) / "test-media"
    builds = tmp_path / "builds"
    settings.ACCORD_DATASET_BUILD_DIR = builds
    project = labeled_project()
    celery_worker_to_kill.start(ACCORD_DATASET_BATCH_ROWS="1", ACCORD_DATASET_BUILD_DIR=str(builds))

    version = dataset_version_request(project=project, spec={}, requested_by=None)
    prefix = storage_prefix(version)
    stored_files_delete(prefix)  # ids repeat across test databases

    def writing_rows() -> DatasetVersion | None:
        row = DatasetVersion.objects.get(pk=version.pk)
        return row if row.phase == PHASE_ROWS and row.progress > 0 else None

    seen = wait_for(writing_rows, timeout=60, interval=0.02)
    celery_worker_to_kill.kill()

    version.refresh_from_db()
    assert version.status == JobStatus.RUNNING
    assert 0 < version.progress < version.total == ITEMS, "killed midway through the rows"
    assert version.progress >= seen.progress
    assert stored_names(prefix) == [], "nothing reaches storage before the rows are all written"
    assert not version.files.exists() and version.number is None
    assert (work_directory(version) / "data.parquet").exists(), "the dead run's own directory"
    with pytest.raises(Exception, match="only a failed"):
        dataset_version_retry(version=version)  # its heartbeat is still fresh

    settings.ACCORD_JOB_STALLED_SECONDS = 1
    wait_for(lambda: job_is_stalled(DatasetVersion.objects.get(pk=version.pk)), timeout=30)
    celery_worker_to_kill.start(ACCORD_DATASET_BUILD_DIR=str(builds))
    dataset_version_retry(version=version)

    def finished() -> DatasetVersion | None:
        row = DatasetVersion.objects.get(pk=version.pk)
        return row if row.is_finished else None

    done = wait_for(finished, timeout=120)
    assert done.status == JobStatus.SUCCEEDED, done.message
    assert (done.number, done.attempts, done.row_count) == (1, 2, ITEMS)
    with default_storage.open(prefix + "data.parquet", "rb") as parquet:
        table = pq.read_table(io.BytesIO(parquet.read()))
    assert table.num_rows == ITEMS
    counts = {c["values"]: c["counts"] for c in table.column("label").value_counts().to_pylist()}
    assert counts == {"positive": 10, "negative": ITEMS - 10}
    files = list(done.files.all())
    assert sorted(stored_names(prefix)) == sorted(f.storage_name for f in files)
    for file in files:
        with default_storage.open(file.storage_name, "rb") as stored:
            assert hashlib.sha256(stored.read()).hexdigest() == file.sha256
    assert not work_directory(done).exists(), "the retry cleared it and removed its own"
    stored_files_delete(prefix)
