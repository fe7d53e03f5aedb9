"""Building a dataset version, as a job row run by Celery (or in-process by
`manage.py build_version`, with a progress bar).

1. The parent is the project's latest ready version when the build starts. With a frozen test
   split, its Parquet file gives the keys of its test split (exports.services.splits).
2. The rows stream out of the database in batches of item ids (exports.services.rows); each
   batch gets its splits and row hashes and is written to every format at once
   (exports.services.writers), into a directory of its own (ACCORD_DATASET_BUILD_DIR/<id>,
   emptied when a run starts, so a retry starts clean). Memory is that of a few batches.
3. Same spec and same content (the hash over the rows' hashes) as the parent: the build ends
   "unchanged", pointing at the parent, and keeps no file and no number.
4. Otherwise the metadata files are written (exports.services.metadata), every file goes into
   the default storage under datasets/<project id>/<version id>/, and then, in one transaction
   under the project's row lock, the version gets its number (the parent's + 1), its files'
   rows and its manifest, and becomes ready; its webhooks' deliveries are made in the same
   transaction (exports.services.webhooks), and sent once it commits. A version that became
   ready meanwhile would make the parent, the number and the frozen test split wrong: the
   build starts over on it.
A failure leaves a failed row, deletes whatever it had put in storage and its directory, and
may be retried. A worker killed midway leaves a running row whose heartbeat stops (stalled:
core.jobs.services.job_is_stalled), its directory, and at most some files in storage (when it
died while saving them) that no row points to; a retry removes both before building.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from core.jobs.models import JobStatus
from core.jobs.services import (
    JobProgress,
    ProgressCallback,
    job_enqueue_on_commit,
    job_fail,
    job_retry,
    job_run,
)
from core.storage import storage_open_random, storage_path
from exports.diffs import read_diff_columns, validation_report
from exports.models import DatasetFile, DatasetVersion, VersionOutcome
from exports.services.metadata import VersionFacts, croissant_json, dataset_card, manifest_json
from exports.services.rows import (
    RowBatch,
    field_kinds,
    rows_annotation_import_jobs,
    rows_count,
    rows_stream,
)
from exports.services.splits import ParentSplits, Splitter
from exports.services.threads import Prefetch
from exports.services.webhooks import webhooks_emit_version_ready
from exports.services.writers import DATA_FILES, VersionWriter, WrittenFile, write_file
from exports.specs import DatasetSpec
from projects.models import LabelKind, Project
from projects.services.archive import project_ensure_writable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PHASE_PARENT = "reading the parent's test split"
PHASE_COUNTING = "counting rows"
PHASE_ROWS = "writing rows"
PHASE_METADATA = "writing metadata"
PHASE_SAVING = "saving files"
# Rows of images per batch: each row carries its image's bytes into the Parquet row group.
IMAGE_BATCH_ROWS = 256
# How many times a build starts over because another version became ready under it.
PARENT_RACES = 3
MAX_NAME_LENGTH = 200
# What a run clears when it claims the row.
RESET: dict[str, Any] = {
    "number": None, "parent": None, "outcome": "", "content_hash": "", "row_count": 0,
    "label_counts": {}, "split_counts": {}, "manifest": {}, "validation": {},
    "storage_prefix": "", "ready_at": None,
}  # fmt: skip


class BuildFailed(Exception):
    """A build that cannot finish, for a reason its message gives a lead."""


class ParentMoved(Exception):
    """Another version became ready while this one was built on the one before."""


def dataset_version_request(
    *, project: Project, spec: dict[str, Any] | None, name: str = "", note: str = "",
    requested_by: User | None, enqueue: bool = True,
) -> DatasetVersion:  # fmt: skip
    """A new version of the project built from `spec` (exports.specs says what a spec holds;
    a ValidationError names each bad key), enqueued once the transaction commits."""
    project_ensure_writable(project=project)
    parsed = DatasetSpec.parse(spec, project=project)
    name, note = (name or "").strip(), (note or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"A name has at most {MAX_NAME_LENGTH} characters."})
    with transaction.atomic():
        version = DatasetVersion.objects.create(
            project=project, spec=parsed.as_json(), spec_hash=parsed.spec_hash, name=name,
            note=note, created_by=requested_by,
        )  # fmt: skip
        if enqueue:
            job_enqueue_on_commit(version, _enqueue_run)
            version.refresh_from_db(fields=["queued_at"])
    return version


def dataset_version_retry(*, version: DatasetVersion, enqueue: bool = True) -> DatasetVersion:
    """Queue a failed (or stalled) build again; it starts from scratch (the module says how a
    retry clears what an earlier run left). `enqueue=False`: the caller runs it itself."""
    project_ensure_writable(project=version.project)
    return job_retry(version, enqueue=_enqueue_run if enqueue else _run_elsewhere)


def _run_elsewhere(version_id: int) -> None:
    """No task: the caller (manage.py build_version) runs the build in its own process."""


def _enqueue_run(version_id: int) -> None:
    from exports.tasks import dataset_version_build_task  # the task module imports this one

    dataset_version_build_task.delay(version_id)


def dataset_version_run(
    *, version_id: int, progress: ProgressCallback | None = None
) -> DatasetVersion:
    """Run the build (the module says how), in the jobs' shared frame (core.jobs.services.
    job_run): safe to call again, even concurrently; a failure marks the version failed, and an
    unexpected one propagates too."""
    return job_run(
        DatasetVersion, job_id=version_id, run=_run, progress=progress, reset=RESET,
        on_error="Nothing of it was kept; retry it.",
    )  # fmt: skip


def _run(version: DatasetVersion, progress: JobProgress) -> None:
    version = DatasetVersion.objects.select_related("project", "created_by").get(pk=version.pk)
    try:
        _build(version, progress)
    except BuildFailed as error:
        _discard(version)
        job_fail(version, message=str(error))
    except Exception:
        _discard(version)
        raise


# --- where a build's files are -----------------------------------------------------------------


def work_directory(version: DatasetVersion) -> Path:
    """Where a build writes its files before they go into storage."""
    return Path(settings.ACCORD_DATASET_BUILD_DIR) / str(version.pk)


def storage_prefix(version: DatasetVersion) -> str:
    return f"datasets/{version.project_id}/{version.pk}/"


def stored_names(prefix: str) -> list[str]:
    """Every file in the default storage under `prefix`, recursively."""
    try:
        directories, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = [prefix + name for name in files]
    for directory in directories:
        names += stored_names(f"{prefix}{directory}/")
    return names


def stored_files_delete(prefix: str) -> None:
    """Delete every file in the default storage under `prefix`."""
    for name in stored_names(prefix):
        default_storage.delete(name)
    root = storage_path(default_storage, prefix)
    if root is None:  # no local folders: S3 has only the objects' names
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        folder.rmdir()
    if root.is_dir():
        root.rmdir()


def _discard(version: DatasetVersion) -> None:
    """Remove what a failed run left: its directory, and its files in storage unless another
    run of the same version made it ready meanwhile (then they are that run's)."""
    shutil.rmtree(work_directory(version), ignore_errors=True)
    if not DatasetVersion.objects.filter(pk=version.pk, status=JobStatus.SUCCEEDED).exists():
        stored_files_delete(storage_prefix(version))


def _latest_ready(project: Project) -> DatasetVersion | None:
    return (
        DatasetVersion.objects.filter(project=project, number__isnull=False)
        .order_by("-number")
        .first()
    )


# --- the build ---------------------------------------------------------------------------------


def _build(version: DatasetVersion, progress: JobProgress) -> None:
    spec = DatasetSpec.from_json(version.spec)
    for _ in range(PARENT_RACES):
        directory = work_directory(version)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        stored_files_delete(storage_prefix(version))
        try:
            _build_on(version, spec, _latest_ready(version.project), directory, progress)
        except ParentMoved:
            continue
        shutil.rmtree(directory, ignore_errors=True)
        return
    raise BuildFailed(
        "Other versions of the project kept becoming ready while this one was built on the "
        "one before them; retry it once they are done."
    )


class Tally:
    """The counts of a version's rows, batch by batch, counted by pyarrow over each batch's
    table."""

    def __init__(self, label_kind: str) -> None:
        self.multi = label_kind == LabelKind.MULTI
        self.rows = 0
        self.labels: Counter[str] = Counter()
        self.splits: Counter[str] = Counter()
        self.by_split: Counter[tuple[str, str]] = Counter()
        self.sources: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        self.import_jobs: set[int] = set()

    def add(self, batch: RowBatch, table: pa.Table) -> None:
        self.rows += table.num_rows
        self.import_jobs |= batch.import_job_ids
        for counter, column in ((self.splits, "split"), (self.sources, "label_source"),
                                (self.methods, "label_method")):  # fmt: skip
            counter.update(_value_counts(table.column(column)))
        labels, splits = table.column("label").combine_chunks(), table.column("split")
        if self.multi:
            splits = pc.take(splits, pc.list_parent_indices(labels))
            labels = pc.list_flatten(labels)
        labels = pc.cast(labels, pa.string())
        self.labels.update(_value_counts(labels))
        pairs = pa.table({"split": splits, "label": labels}).group_by(["split", "label"])
        for row in pairs.aggregate([([], "count_all")]).to_pylist():
            self.by_split[(row["split"], row["label"])] += row["count_all"]

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(self.labels.items(), key=lambda pair: _label_order(pair[0])))

    def split_counts(self, names: tuple[str, ...]) -> dict[str, int]:
        return {name: self.splits.get(name, 0) for name in names}

    def labels_by_split(self, names: tuple[str, ...]) -> dict[str, dict[str, int]]:
        return {
            name: {label: self.by_split[(name, label)] for label in self.label_counts()
                   if self.by_split.get((name, label))}
            for name in names
        }  # fmt: skip


def _value_counts(column: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    counts = pc.value_counts(column)
    return dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )


def _label_order(label: str) -> tuple[int, float, str]:
    """Ratings by number, labels by name."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _parent_splits(parent: DatasetVersion) -> ParentSplits:
    name = parent.storage_prefix + DATA_FILES["parquet"]
    try:
        with storage_open_random(default_storage, name) as stored:
            return ParentSplits.read(stored)
    except FileNotFoundError:
        raise BuildFailed(
            f"The test split is frozen, but {parent.label}'s data.parquet is missing from "
            f"storage ({name}): its test split cannot be kept."
        ) from None


def _batch_rows(kinds: dict[str, str]) -> int:
    rows = max(1, int(settings.ACCORD_DATASET_BATCH_ROWS))
    return min(rows, IMAGE_BATCH_ROWS) if "image" in kinds.values() else rows


def _build_on(
    version: DatasetVersion, spec: DatasetSpec, parent: DatasetVersion | None, directory: Path,
    progress: JobProgress,
) -> None:  # fmt: skip
    project = version.project
    parent_splits = None
    if spec.freeze_test and parent is not None:
        progress.phase(PHASE_PARENT, total=None)
        parent_splits = _parent_splits(parent)
    progress.phase(PHASE_COUNTING, total=None)
    kinds = field_kinds(project=project, spec=spec)
    progress.phase(PHASE_ROWS, total=rows_count(project=project, spec=spec))
    writer = VersionWriter(
        directory=directory, spec=spec, kinds=kinds, label_kind=project.label_kind
    )
    splitter = Splitter(spec, parent_splits)
    tally = Tally(project.label_kind)
    content = hashlib.sha256()

    def stream() -> Iterator[RowBatch]:
        return rows_stream(project=project, spec=spec, kinds=kinds, batch_rows=_batch_rows(kinds))

    # The next batch is read while this one is hashed, by a thread with its own connection:
    # not inside a transaction (a test's), whose rows that connection could not see.
    batches = stream() if connection.in_atomic_block else Prefetch(stream)
    try:
        for batch in batches:
            hashes, table = writer.write(batch, splitter.assign(batch.keys, batch.positions))
            content.update(hashes)
            tally.add(batch, table)
            progress.advance(tally.rows)
        data_files = writer.close()
    except BaseException:
        writer.abort()
        raise
    progress.finish()
    content_hash = content.hexdigest()
    if (
        parent is not None
        and parent.spec_hash == version.spec_hash
        and parent.content_hash == content_hash
    ):
        _finish_unchanged(version, parent, tally, spec, content_hash)
        return

    progress.phase(PHASE_METADATA, total=None)
    facts = VersionFacts(
        project=project, version=version, number=(parent.number or 0) + 1 if parent else 1,
        parent=parent, spec=spec, schema=writer.schema, built_at=timezone.now(),
        content_hash=content_hash, rows=tally.rows, label_counts=tally.label_counts(),
        split_counts=tally.split_counts(spec.split_names),
        labels_by_split=tally.labels_by_split(spec.split_names),
        source_counts=dict(sorted(tally.sources.items())),
        method_counts=dict(sorted(tally.methods.items())),
        import_jobs=sorted(tally.import_jobs),
        annotation_import_jobs=rows_annotation_import_jobs(project=project, spec=spec),
    )  # fmt: skip
    facts.validation = _validate(parent=parent, parquet=directory / DATA_FILES["parquet"])
    files = [
        *data_files,
        write_file(directory, "README.md", DatasetFile.Kind.CARD, dataset_card(facts, data_files)),
        write_file(directory, "croissant.json", DatasetFile.Kind.CROISSANT,
                   croissant_json(facts, data_files)),
    ]  # fmt: skip
    manifest = manifest_json(facts, files)
    files.append(write_file(directory, "manifest.json", DatasetFile.Kind.MANIFEST, manifest))

    progress.phase(PHASE_SAVING, total=len(files))
    prefix = storage_prefix(version)
    for done, written in enumerate(files, start=1):
        _save(prefix + written.name, written)
        progress.advance(done)
    progress.finish()
    _publish(version, parent, facts, files, manifest)


def _save(name: str, written: WrittenFile) -> None:
    """Put a finished file into the default storage under `name` (a local storage moves it
    there rather than copying it; S3 uploads it from the file, in parts when it is large)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with _BuiltFile(written.path) as content:
        saved = default_storage.save(name, content)
    if saved != name:
        raise BuildFailed(f"The storage saved {written.name} as {saved}, not as {name}.")


class _BuiltFile(File):  # type: ignore[type-arg]
    """A finished file; its path lets a local storage move it into place."""

    def __init__(self, path: Path) -> None:
        super().__init__(open(path, "rb"), name=path.name)  # noqa: SIM115 (File closes it)
        self.built_path = path

    def temporary_file_path(self) -> str:
        return str(self.built_path)


def _locked_latest(project: Project) -> DatasetVersion | None:
    """The latest ready version, read under the project's row lock: numbers are given under
    it, so two builds finishing at once cannot both take the same one."""
    list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk"))
    return _latest_ready(project)


def _finish_unchanged(
    version: DatasetVersion, parent: DatasetVersion, tally: Tally, spec: DatasetSpec,
    content_hash: str,
) -> None:  # fmt: skip
    now = timezone.now()
    with transaction.atomic():
        latest = _locked_latest(version.project)
        if latest is None or latest.pk != parent.pk:
            raise ParentMoved
        DatasetVersion.objects.filter(pk=version.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCEEDED, outcome=VersionOutcome.UNCHANGED, parent=parent,
            phase="done", finished_at=now, content_hash=content_hash, row_count=tally.rows,
            label_counts=tally.label_counts(), split_counts=tally.split_counts(spec.split_names),
            message=f"Same as {parent.label}: the same spec over the same labels of record "
            f"({tally.rows:,} rows); no new files were kept.",
        )  # fmt: skip


def _publish(
    version: DatasetVersion, parent: DatasetVersion | None, facts: VersionFacts,
    files: list[WrittenFile], manifest: bytes,
) -> None:  # fmt: skip
    """Make the version ready: its number, parent, files and manifest, all in one transaction
    under the project's row lock (the module says why)."""
    import json

    now = timezone.now()
    prefix = storage_prefix(version)
    with transaction.atomic():
        latest = _locked_latest(version.project)
        if (latest.pk if latest else None) != (parent.pk if parent else None):
            raise ParentMoved
        DatasetFile.objects.bulk_create([
            DatasetFile(version=version, name=written.name, kind=written.kind,
                        content_type=written.content_type, storage_name=prefix + written.name,
                        size=written.size, sha256=written.sha256)
            for written in files
        ])  # fmt: skip
        data_bytes = sum(w.size for w in files if w.kind != DatasetFile.Kind.MEDIA)
        splits = ", ".join(f"{name} {count:,}" for name, count in facts.split_counts.items())
        published = DatasetVersion.objects.filter(pk=version.pk, status=JobStatus.RUNNING).update(
            number=facts.number, parent=parent, outcome=VersionOutcome.BUILT,
            status=JobStatus.SUCCEEDED, phase="done", ready_at=now, finished_at=now,
            content_hash=facts.content_hash, row_count=facts.rows,
            label_counts=facts.label_counts, split_counts=facts.split_counts,
            manifest=json.loads(manifest), validation=facts.validation, storage_prefix=prefix,
            progress=facts.rows, total=facts.rows,
            message=f"{facts.label} is ready: {facts.rows:,} rows ({splits}); {len(files)} "
            f"files, {_size(data_bytes)} besides images.",
        )  # fmt: skip
        if not published:
            raise BuildFailed("Another run of this build finished it first.")
        version.refresh_from_db()
        _announce(version)


def _size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size} bytes"


def _validate(*, parent: DatasetVersion | None, parquet: Path) -> dict[str, Any]:
    """The version checked against its parent (exports.diffs.validation_report), for its
    manifest and its row: schema changes, the label distribution's shift with its test, items
    added, removed and relabeled, and a warning for each split that drifted past
    ACCORD_DATASET_DRIFT_THRESHOLD. Reads four columns of each version's Parquet."""
    table = read_diff_columns(str(parquet))
    schema = pq.read_schema(parquet)
    parent_table = parent_schema = None
    if parent is not None:
        name = parent.storage_prefix + DATA_FILES["parquet"]
        try:
            with storage_open_random(default_storage, name) as stored:
                parent_table = read_diff_columns(stored)
                parent_schema = pq.read_schema(stored)
        except FileNotFoundError:
            raise BuildFailed(
                f"{parent.label}'s data.parquet is missing from storage ({name}): this version "
                "cannot be checked against it."
            ) from None
    return validation_report(
        parent_table, table, parent_schema, schema,
        drift_threshold=settings.ACCORD_DATASET_DRIFT_THRESHOLD,
    )  # fmt: skip


def _announce(version: DatasetVersion) -> None:
    """The version is ready: its webhooks are told, in the transaction that makes it ready, so
    that their deliveries commit with it (each is sent once it has committed)."""
    webhooks_emit_version_ready(version=version)
