"""Annotation imports under real concurrency, on PostgreSQL (row locks): an import beside raters
claiming and labeling the same items, and two imports of overlapping files at once. Threads, each
with its own connection, start together at a barrier.

alice leads the project and imports; rater0..rater3 label in it; worker-N are a crowd's workers.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from core.jobs.models import JobStatus
from labeling.assignment import item_claim
from labeling.counters import counters_recount
from labeling.imports import annotation_import_create, annotation_import_run
from labeling.models import Annotation, AnnotationImportJob, Assignment, AssignmentStatus
from labeling.services import annotation_submit
from projects.models import Item, Membership, Project
from tests.factories import UserFactory, make_items, make_project
from tests.labeling.test_assignment_concurrency import run_together, unwrap

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks exist only on PostgreSQL; set DATABASE_URL=postgres://... to run this",
    ),
]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def job_for(project: Project, lead: Any, content: str) -> AnnotationImportJob:
    return annotation_import_create(
        project=project, uploaded_file=ContentFile(content.encode(), name="crowd.csv"),
        created_by=lead, source="api", enqueue=False,
    )  # fmt: skip


def label_until_done(project: Project, rater: Any) -> int:
    """Claim and label until the queue is empty; return how many labels."""
    done = 0
    while holds := item_claim(project=project, rater=rater):
        annotation_submit(project=project, item_id=holds[0].item.pk, rater=rater,
                          value="negative", client_id=uuid.uuid4())  # fmt: skip
        done += 1
    return done


def test_an_import_beside_raters_labeling_the_same_items_blocks_nobody_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small batches, so that the import's locks and the raters' interleave many times. Raters
    rater0 and rater1 are also named in the file: a label of theirs arrives both ways."""
    monkeypatch.setattr("labeling.imports.jobs.BATCH_ROWS", 15)
    alice = UserFactory(username="alice")
    raters = [UserFactory(username=f"rater{n}") for n in range(4)]
    project = make_project(lead=alice, raters=raters, raters_per_item=3)
    items = make_items(project, 60)
    rows = [
        f"{item.key},{name},positive" for item in items for name in ("rater0", "rater1", "worker-1")
    ]
    job = job_for(project, alice, "item_key,rater,value\n" + "\n".join(rows) + "\n")

    results = run_together(
        lambda: annotation_import_run(job_id=job.pk),
        *(lambda rater=rater: label_until_done(project, rater) for rater in raters),
    )

    done = unwrap(results[0])
    labeled = [unwrap(result) for result in results[1:]]
    assert done.status == JobStatus.SUCCEEDED, done.message
    # Each (item, rater) has one label, made in Accord or imported, whichever came first; an
    # import arriving second changed it (a revision), a submit arriving second did too.
    assert done.created_count + done.changed_count + done.unchanged_count == 180
    crowd = Membership.objects.get(project=project, external_name="worker-1").user
    assert Annotation.objects.filter(project=project, rater=crowd).count() == 60
    for rater in raters[:2]:
        assert Annotation.objects.filter(project=project, rater=rater).count() == 60
    for rater, count in zip(raters[2:], labeled[2:], strict=True):
        assert Annotation.objects.filter(project=project, rater=rater).count() == count
    assert not Assignment.objects.filter(project=project, status=AssignmentStatus.LEASED).exists()
    assert counters_recount(project=project, fix=False).changes == []


def test_two_imports_of_overlapping_files_at_once_write_each_label_once() -> None:
    alice = UserFactory(username="alice")
    project = make_project(lead=alice, raters_per_item=3)
    items = make_items(project, 40)
    shared = [f"{item.key},worker-{n % 5},positive" for n, item in enumerate(items)]
    first = job_for(project, alice, "item_key,rater,value\n" + "\n".join(shared) + "\n")
    second = job_for(
        project, alice,
        "item_key,rater,value\n" + "\n".join([*shared, "item-0,worker-new,neutral"]) + "\n",
    )  # fmt: skip

    results = run_together(
        lambda: annotation_import_run(job_id=first.pk),
        lambda: annotation_import_run(job_id=second.pk),
    )

    jobs = [unwrap(result) for result in results]
    assert all(job.status == JobStatus.SUCCEEDED for job in jobs), [j.message for j in jobs]
    assert sum(job.created_count for job in jobs) == 41
    assert sum(job.unchanged_count for job in jobs) == 40
    assert sum(job.external_rater_count for job in jobs) == 6
    assert Membership.objects.filter(project=project, is_external=True).count() == 6
    assert Annotation.objects.filter(project=project).count() == 41
    assert Item.objects.get(project=project, key="item-0").annotation_count == 2
    assert counters_recount(project=project, fix=False).changes == []
