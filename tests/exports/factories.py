"""Dataset versions made directly, without a build: a ready version's row, its files in the
default storage (data.parquet in the row format's columns, data.csv, manifest.json) and their
DatasetFile rows with sha256 and size, as a build leaves them. For the API's tests, which need
versions whose every byte they know."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Max
from django.utils import timezone

from core.jobs.models import JobStatus
from exports.models import DatasetFile, DatasetVersion, VersionOutcome
from projects.models import Project

SPEC = {
    "sources": ["resolution", "gold", "consensus"], "min_confidence": 0.0, "fields": ["text"],
    "splits": {"train": 0.8, "validation": 0.1, "test": 0.1}, "salt": "accord",
    "freeze_test": True, "formats": ["parquet", "csv"],
}  # fmt: skip
SPEC_HASH = hashlib.sha256(
    json.dumps(SPEC, sort_keys=True, separators=(",", ":")).encode()
).hexdigest()


def row(key: str, label: Any, split: str = "train", text: str | None = None) -> dict[str, Any]:
    """One row in the row format's columns (those a text project's version has)."""
    values = {
        "item_key": key, "text": text if text is not None else f"The text of {key}.",
        "label": label, "label_source": "consensus", "label_method": "majority",
        "confidence": 1.0, "agreement": 1.0, "n_annotations": 2, "annotation_ids": [1, 2],
        "split": split,
    }  # fmt: skip
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**values, "row_hash": hashlib.sha256(canonical.encode()).hexdigest()}


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer, compression="zstd")
    return buffer.getvalue()


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    lines = ["item_key,text,label,split"]
    lines += [f"{r['item_key']},{r['text']},{r['label']},{r['split']}" for r in rows]
    return ("\n".join(lines) + "\n").encode()


def make_version(
    project: Project, rows: list[dict[str, Any]], *, created_by: Any = None, name: str = "",
    note: str = "", extra_files: dict[str, bytes] | None = None,
) -> DatasetVersion:  # fmt: skip
    """A ready version numbered after the project's last, its parent the latest ready one."""
    last = DatasetVersion.objects.filter(project=project, number__isnull=False)
    number = (last.aggregate(n=Max("number"))["n"] or 0) + 1
    parent = last.order_by("-number").first()
    now = timezone.now()
    content_hash = hashlib.sha256("".join(r["row_hash"] for r in rows).encode()).hexdigest()
    labels: dict[str, int] = {}
    splits: dict[str, int] = {}
    for r in rows:
        labels[str(r["label"])] = labels.get(str(r["label"]), 0) + 1
        splits[r["split"]] = splits.get(r["split"], 0) + 1
    version = DatasetVersion.objects.create(
        project=project, number=number, name=name, note=note, spec=SPEC, spec_hash=SPEC_HASH,
        parent=parent, outcome=VersionOutcome.BUILT, content_hash=content_hash,
        row_count=len(rows), label_counts=labels, split_counts=splits,
        status=JobStatus.SUCCEEDED, phase="done", created_by=created_by, ready_at=now,
        started_at=now, finished_at=now, attempts=1,
        validation={"warnings": [], "rows": len(rows)},
    )  # fmt: skip
    version.storage_prefix = f"datasets/{project.pk}/{version.pk}/"
    contents = {
        "data.parquet": ("parquet", "application/vnd.apache.parquet", parquet_bytes(rows)),
        "data.csv": ("csv", "text/csv", csv_bytes(rows)),
    }
    for name_in_version, content in (extra_files or {}).items():
        contents[name_in_version] = ("media", "image/png", content)
    listed = [
        {"name": file_name, "kind": kind, "content_type": content_type, "size": len(content),
         "sha256": hashlib.sha256(content).hexdigest()}
        for file_name, (kind, content_type, content) in contents.items()
    ]  # fmt: skip
    parent_ref = None if parent is None else {"id": parent.pk, "label": parent.label}
    manifest = {
        "format": "accord.dataset-version/1",
        "project": {"id": project.pk, "name": project.name},
        "version": {"id": version.pk, "number": number, "label": f"v{number}", "name": name},
        "parent": parent_ref,
        "spec": SPEC,
        "spec_hash": SPEC_HASH,
        "content_hash": content_hash,
        "counts": {"rows": len(rows), "labels": labels, "splits": splits},
        "files": listed,
        "validation": version.validation,
    }
    manifest_content = (json.dumps(manifest, indent=2) + "\n").encode()
    contents["manifest.json"] = ("manifest", "application/json", manifest_content)
    for file_name, (kind, content_type, content) in contents.items():
        storage_name = default_storage.save(
            version.storage_prefix + file_name, ContentFile(content)
        )
        DatasetFile.objects.create(
            version=version, name=file_name, kind=kind, content_type=content_type,
            storage_name=storage_name, size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
        )  # fmt: skip
    version.manifest = manifest
    version.save(update_fields=["storage_prefix", "manifest"])
    return version


def make_build(project: Project, *, status: str, created_by: Any = None) -> DatasetVersion:
    """A build that is not ready: pending, running or failed, with no number and no files."""
    return DatasetVersion.objects.create(
        project=project, spec=SPEC, spec_hash=SPEC_HASH, status=status, created_by=created_by,
        message="The worker was lost." if status == JobStatus.FAILED else "",
    )  # fmt: skip
