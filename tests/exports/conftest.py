"""Dataset versions' test data, made through the real services: items imported as rows, labels
submitted by raters who claim their items, conflicts resolved by a lead; and each test's own
storage and build directory (a version's files are named by ids that repeat across test
databases)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from agreement.models import OPEN_STATUSES, Conflict, LabelOfRecord
from agreement.services.conflicts import conflict_resolve
from exports.models import DatasetVersion
from exports.services.build import dataset_version_request, dataset_version_run
from labeling.assignment import item_claim
from labeling.services import annotation_submit
from projects.models import Item, Project


@pytest.fixture(autouse=True)
def _storage_of_this_test(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ACCORD_DATASET_BUILD_DIR = tmp_path / "builds"


def label_all(project: Project, raters: list[Any], value_of: Callable[[Item, Any], Any]) -> None:
    """Every rater claims and labels items until their queue is empty; `value_of(item, rater)`
    gives each label."""
    for rater in raters:
        while holds := item_claim(project=project, rater=rater, hold=1):
            item = Item.objects.get(pk=holds[0].item.pk)
            annotation_submit(
                project=project, item_id=item.pk, rater=rater, value=value_of(item, rater),
                client_id=uuid.uuid4(),
            )  # fmt: skip


def resolve_conflicts(project: Project, lead: Any, value_of: Callable[[Item], Any]) -> int:
    """A lead resolves every open conflict; returns how many."""
    conflicts = list(
        Conflict.objects.filter(project=project, status__in=OPEN_STATUSES).select_related("item")
    )
    for conflict in conflicts:
        conflict_resolve(conflict=conflict, lead=lead, value=value_of(conflict.item))
    return len(conflicts)


def build(
    project: Project, lead: Any, spec: Mapping[str, Any] | None = None, **fields: Any
) -> DatasetVersion:
    """A version requested and built in-process (as manage.py build_version does)."""
    version = dataset_version_request(
        project=project, spec=dict(spec or {}), requested_by=lead, enqueue=False, **fields
    )
    return dataset_version_run(version_id=version.pk)


def records(project: Project) -> dict[str, LabelOfRecord]:
    return {
        record.item.key: record
        for record in LabelOfRecord.objects.filter(project=project).select_related("item")
    }
