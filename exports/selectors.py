"""Reads of dataset versions that the API (and the pages) share: a version named by a reference,
the latest ready one, a version's files, and the diff between two versions read from their
Parquet files."""

from __future__ import annotations

import re
import threading
from datetime import datetime

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import Http404

from core.errors import Conflict
from core.http import StoredFile
from core.jobs.models import JobStatus
from core.storage import storage_open_random
from exports.diffs import VersionsDiff, read_diff_columns, versions_diff
from exports.models import DatasetFile, DatasetVersion, VersionOutcome

# How a URL names a version: its id, "latest" (the latest ready version), or "v3" (number 3).
VERSION_REF = r"latest|v[0-9]+|[0-9]+"
LATEST = "latest"
_REF = re.compile(rf"^(?:{VERSION_REF})$")
DATA_FILE = "data.parquet"
_MAX_NUMBER = 2**31 - 1
_MAX_ID = 2**63 - 1


def versions_of(*, project_id: int) -> QuerySet[DatasetVersion]:
    """A project's versions, with what their rows show (who built them, their parent)."""
    return DatasetVersion.objects.filter(project_id=project_id).select_related(
        "created_by", "parent"
    )


def version_latest_ready(*, project_id: int) -> DatasetVersion | None:
    """The ready version with the highest number (index dataset_version_latest)."""
    return (
        versions_of(project_id=project_id)
        .filter(status=JobStatus.SUCCEEDED, outcome=VersionOutcome.BUILT, number__isnull=False)
        .order_by("-number")
        .first()
    )


def version_by_ref(*, project_id: int, ref: str) -> DatasetVersion:
    """The version a reference names (VERSION_REF), or Http404 saying what was not found."""
    if not _REF.match(ref):
        raise Http404(f"'{ref}' names no version: use its id, v<number> or latest.")
    if ref == LATEST:
        version = version_latest_ready(project_id=project_id)
        if version is None:
            raise Http404("This project has no ready dataset version yet.")
        return version
    by_number = ref.startswith("v")
    value = int(ref[1:] if by_number else ref)
    # Past the columns' range no row can match (and PostgreSQL would refuse the comparison).
    limit = _MAX_NUMBER if by_number else _MAX_ID
    versions = versions_of(project_id=project_id)
    found = versions.filter(number=value) if by_number else versions.filter(pk=value)
    version = found.first() if value <= limit else None
    if version is None:
        raise Http404(f"This project has no dataset version {ref}.")
    return version


class VersionNotReady(Conflict):
    error_code = "version_not_ready"


def version_ready(version: DatasetVersion) -> DatasetVersion:
    """The version if it is ready (its manifest and files can be read); else VersionNotReady
    saying why, or where its files are for an unchanged build."""
    if version.is_ready:
        return version
    if version.outcome == VersionOutcome.UNCHANGED and version.parent is not None:
        raise VersionNotReady(
            f"{version.label} found the labels unchanged since {version.parent.label}, and has "
            f"no files of its own: read {version.parent.label}'s."
        )
    raise VersionNotReady(
        f"{version.label} is {version.get_status_display().lower()}: it has no manifest or "  # type: ignore[attr-defined]
        "files yet."
    )


def version_file(*, version: DatasetVersion, name: str) -> DatasetFile:
    found = DatasetFile.objects.filter(version=version, name=name).first()
    if found is None:
        raise Http404(f"{version.label} has no file named '{name}'.")
    return found


def stored_file_of(file: DatasetFile, *, made_at: datetime) -> StoredFile:
    """A version's file as core.http serves it: under its name's last part, dated when the
    version became ready."""
    return StoredFile(
        storage=default_storage, name=file.storage_name, sha256=file.sha256, size=file.size,
        content_type=file.content_type, last_modified=made_at,
        filename=file.name.rsplit("/", 1)[-1],
    )  # fmt: skip


# The last diff computed in this process, by the sha256 of the two Parquet files: the pages of
# one diff are asked for one after another, and a file's content is its hash. One only: a diff
# of two million-row versions holds some 100 MB.
_last_diff: dict[tuple[str, str], VersionsDiff] = {}
_last_diff_lock = threading.Lock()


def versions_diff_of(*, old: DatasetVersion, new: DatasetVersion) -> VersionsDiff:
    """The diff between two ready versions, from the key, label, split and hash columns of
    their Parquet files."""
    files = [version_file(version=version, name=DATA_FILE) for version in (old, new)]
    key = (files[0].sha256, files[1].sha256)
    with _last_diff_lock:
        if key in _last_diff:
            return _last_diff[key]
    tables = []
    for data in files:
        with storage_open_random(default_storage, data.storage_name) as handle:
            tables.append(read_diff_columns(handle))
    diff = versions_diff(tables[0], tables[1])
    with _last_diff_lock:
        _last_diff.clear()
        _last_diff[key] = diff
    return diff
