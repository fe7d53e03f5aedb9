"""The metadata files of a dataset version, written after its data files:

- `manifest.json`: the version and its parent, who built it and when, the spec, the Accord
  version, the counts (rows, labels, splits, labels by split, sources, methods), the project's
  agreement figures, the schema, every other file's name, kind, size and sha256, the lineage
  (the project, the imports its items and annotations came from, the label-of-record methods)
  and the validation against the parent.
- `README.md`: a dataset card with Hugging Face's YAML front matter (the Parquet file as the
  default config, task category, size category, licence), then what the version holds and how
  to load it.
- `croissant.json`: Croissant 1.0 JSON-LD (MLCommons): the files as FileObjects with their
  sha256 (the images as a FileSet), and one RecordSet of the rows with a field per column.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from agreement.models import ProjectAgreement
from exports.models import DatasetFile, DatasetVersion
from exports.services.writers import IMAGE_TYPE, WrittenFile, columns_of, schema_as_json
from exports.specs import DatasetSpec
from projects.models import ContentType, LabelKind, Project

MANIFEST_FORMAT = "accord.dataset-version/1"
CROISSANT_CONFORMS_TO = "http://mlcommons.org/croissant/1.0"
# The figures of the project's summary (agreement.services.figures) a manifest copies: the
# headline ones, not the per-rater and per-week detail.
AGREEMENT_KEYS = (
    "computed_at", "rule", "threshold", "method", "label_kind", "items",
    "items_with_two_or_more", "annotations", "raters", "conflicts", "observed_agreement",
    "alpha", "kappa", "gwet",
)  # fmt: skip
# Hugging Face's size categories (the dataset card's `size_categories`).
SIZE_CATEGORIES = (
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
)  # fmt: skip
COLUMN_DESCRIPTIONS = {
    "item_key": "The item's key in the project (unique).",
    "text": "The item's text.",
    "image": "The item's image (Hugging Face Image feature: bytes and path).",
    "label": "The label of record.",
    "label_source": "Where the label of record comes from: resolution, gold or consensus.",
    "label_method": "How it was reached (majority, dawid_skene, weighted, lead, gold).",
    "confidence": "The consensus's confidence (null when none applies).",
    "agreement": "Share of agreeing rater pairs on the item (null below two labels).",
    "n_annotations": "How many raters labeled the item.",
    "annotation_ids": "The annotations the label rests on (sorted).",
    "split": "The split the item belongs to.",
    "row_hash": "sha256 of the row's canonical JSON without row_hash (an image as its sha256).",
}
CROISSANT_CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "equivalentProperty": "cr:equivalentProperty",
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
CROISSANT_FORMATS: dict[str, str] = {
    DatasetFile.Kind.PARQUET: "application/x-parquet",
    DatasetFile.Kind.JSONL: "application/jsonlines",
    DatasetFile.Kind.CSV: "text/csv",
}


@dataclass
class VersionFacts:
    """What the metadata files say of a version, gathered by the build."""

    project: Project
    version: DatasetVersion
    number: int
    parent: DatasetVersion | None
    spec: DatasetSpec
    schema: pa.Schema
    built_at: datetime
    content_hash: str
    rows: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)
    split_counts: dict[str, int] = field(default_factory=dict)
    labels_by_split: dict[str, dict[str, int]] = field(default_factory=dict)
    source_counts: dict[str, int] = field(default_factory=dict)
    method_counts: dict[str, int] = field(default_factory=dict)
    import_jobs: list[int] = field(default_factory=list)
    annotation_import_jobs: list[int] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"v{self.number}"

    @property
    def title(self) -> str:
        name = f" ({self.version.name})" if self.version.name else ""
        return f"{self.project.name} {self.label}{name}"


def accord_version() -> str:
    try:
        return importlib.metadata.version("accord")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def agreement_summary(project: Project) -> dict[str, Any] | None:
    """The project's headline agreement figures from its last full recompute (None before
    the first)."""
    summary = (
        ProjectAgreement.objects.filter(project=project).values_list("summary", flat=True).first()
    )
    if summary is None:
        return None
    return {key: summary[key] for key in AGREEMENT_KEYS if key in summary}


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def manifest_json(facts: VersionFacts, files: list[WrittenFile]) -> bytes:
    """The manifest (the module says what it holds); `files` are every other file."""
    version, parent = facts.version, facts.parent
    creator = version.created_by
    manifest = {
        "format": MANIFEST_FORMAT,
        "project": {"id": facts.project.pk, "name": facts.project.name},
        "version": {
            "id": version.pk,
            "number": facts.number,
            "label": facts.label,
            "name": version.name,
            "note": version.note,
        },
        "parent": None
        if parent is None
        else {
            "id": parent.pk,
            "number": parent.number,
            "label": parent.label,
            "content_hash": parent.content_hash,
        },
        "created_by": None if creator is None else creator.get_username(),
        "created_at": version.created_at.isoformat(),
        "built_at": facts.built_at.isoformat(),
        "accord_version": accord_version(),
        "spec": facts.spec.as_json(),
        "spec_hash": facts.spec.spec_hash,
        "content_hash": facts.content_hash,
        "counts": {
            "rows": facts.rows,
            "labels": facts.label_counts,
            "splits": facts.split_counts,
            "labels_by_split": facts.labels_by_split,
            "sources": facts.source_counts,
        },
        "agreement": agreement_summary(facts.project),
        "schema": {
            "columns": schema_as_json(facts.schema),
            "arrow": facts.schema.to_string(show_schema_metadata=False),
        },
        "files": [written.as_json() for written in files],
        "lineage": {
            "project": {
                "id": facts.project.pk,
                "name": facts.project.name,
                "label_kind": facts.project.label_kind,
                "content_type": facts.project.content_type,
            },
            "import_jobs": facts.import_jobs,
            "annotation_import_jobs": facts.annotation_import_jobs,
            "label_methods": facts.method_counts,
            "label_sources": facts.source_counts,
        },
        "validation": facts.validation,
    }
    return _json_bytes(manifest)


def size_category(rows: int) -> str:
    for bound, name in SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>1B"


def _yaml(value: str) -> str:
    """A YAML scalar: JSON's double-quoted string is one."""
    return json.dumps(value, ensure_ascii=False)


def _task(project: Project) -> tuple[str, str]:
    category = (
        "image-classification" if project.content_type == ContentType.IMAGE
        else "text-classification"
    )  # fmt: skip
    task_ids: dict[str, str] = {
        LabelKind.SINGLE: "multi-class-classification",
        LabelKind.MULTI: "multi-label-classification",
        LabelKind.RATING: "sentiment-scoring" if project.content_type == "text" else "",
    }
    return category, task_ids.get(project.label_kind, "")


def _markdown_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def dataset_card(facts: VersionFacts, data_files: list[WrittenFile]) -> bytes:
    """README.md: Hugging Face front matter, then the version in words."""
    project, spec = facts.project, facts.spec
    licence = getattr(project, "license", "") or "other"
    category, task_id = _task(project)
    front = [
        "---",
        f"pretty_name: {_yaml(facts.title)}",
        f"license: {_yaml(licence)}",
        "task_categories:",
        f"- {category}",
        *(["task_ids:", f"- {task_id}"] if task_id else []),
        "size_categories:",
        f"- {size_category(facts.rows)}",
        "tags:",
        "- accord",
        "configs:",
        "- config_name: default",
        "  data_files: data.parquet",
        "  default: true",
        "---",
    ]
    lines = [
        *front,
        "",
        f"# {facts.title}",
        "",
        project.description.strip() or f"Labels of record of the Accord project {project.name}.",
        "",
    ]
    if facts.version.note:
        lines += [facts.version.note.strip(), ""]
    parent = facts.parent
    lines += [
        f"Version {facts.label} of project {project.name}, built {facts.built_at:%Y-%m-%d %H:%M} "
        f"UTC{'' if parent is None else f' from {parent.label}'}: {facts.rows:,} rows.",
        "",
        "## Splits and labels",
        "",
        "The `split` column gives each row's split (a hash of its key and the salt "
        f"{spec.salt!r}: an item keeps its split from version to version"
        + ("; the test split only grows" if spec.freeze_test else "")
        + ").",
        "",
    ]
    labels = sorted(facts.label_counts)
    lines += ["| split | rows | " + " | ".join(map(_markdown_cell, labels)) + " |",
              "|---|---:|" + "---:|" * len(labels)]  # fmt: skip
    for name in spec.split_names:
        counts = facts.labels_by_split.get(name, {})
        lines.append(
            f"| {name} | {facts.split_counts.get(name, 0):,} | "
            + " | ".join(f"{counts.get(label, 0):,}" for label in labels)
            + " |"
        )
    sources = ", ".join(f"{name} {count:,}" for name, count in sorted(facts.source_counts.items()))
    lines += [
        "",
        f"Labels of record by source: {sources or 'none'}. Items whose raters disagree and "
        "that no lead has resolved, and items a lead marked ambiguous, are not included.",
        "",
        "## Columns",
        "",
        "| column | type | description |",
        "|---|---|---|",
    ]
    for column in facts.schema:
        description = COLUMN_DESCRIPTIONS.get(column.name, "A field of the item's data.")
        lines.append(f"| {column.name} | `{column.type}` | {description} |")
    lines += [
        "",
        "## Files",
        "",
        *(
            f"- `{written.name}`: {written.size:,} bytes, sha256 `{written.sha256}`"
            for written in data_files
            if written.kind != DatasetFile.Kind.MEDIA
        ),
        "",
        "`manifest.json` lists every file with its sha256 (the images too), the spec, the "
        "lineage and the validation against the parent; `croissant.json` describes the "
        "version in Croissant 1.0.",
        "",
        "## Loading",
        "",
        "```python",
        "import pandas as pd",
        'rows = pd.read_parquet("data.parquet")',
        'train = rows[rows["split"] == "train"]',
        "",
        "from datasets import load_dataset",
        'dataset = load_dataset("parquet", data_files="data.parquet")["train"]',
        "```",
        "",
        "In `data.csv`, lists are JSON text, an image is the path of its file, and a cell "
        "starting with =, +, -, @, a tab or a carriage return has a leading apostrophe so that "
        "no spreadsheet runs it as a formula.",
        "",
    ]
    return "\n".join(lines).encode()


def _croissant_type(column: pa.Field) -> tuple[Any, bool]:
    """A column's Croissant dataType, and whether it repeats (a list)."""
    kind = column.type
    repeated = pa.types.is_list(kind)
    if repeated:
        kind = kind.value_type
    if kind == IMAGE_TYPE:
        data_type: Any = "sc:ImageObject"
    elif pa.types.is_integer(kind):
        data_type = "sc:Integer"
    elif pa.types.is_floating(kind):
        data_type = "sc:Float"
    elif pa.types.is_boolean(kind):
        data_type = "sc:Boolean"
    else:
        data_type = "sc:Text"
    if column.name == "label":
        data_type = [data_type, "cr:Label"]
    return data_type, repeated


def croissant_json(facts: VersionFacts, data_files: list[WrittenFile]) -> bytes:
    """Croissant 1.0 JSON-LD of the version (the module says what)."""
    project = facts.project
    distribution: list[dict[str, Any]] = []
    image_formats: set[str] = set()
    for written in data_files:
        if written.kind == DatasetFile.Kind.MEDIA:
            image_formats.add(written.content_type)
            continue
        distribution.append({
            "@type": "cr:FileObject", "@id": written.name, "name": written.name,
            "contentUrl": written.name, "contentSize": f"{written.size} B",
            "encodingFormat": CROISSANT_FORMATS.get(written.kind, written.content_type),
            "sha256": written.sha256,
        })  # fmt: skip
    for content_type in sorted(image_formats):
        extension = content_type.split("/")[-1].replace("jpeg", "jpg").replace("tiff", "tif")
        distribution.append({
            "@type": "cr:FileSet", "@id": f"images-{extension}", "name": f"images-{extension}",
            "description": "The images the rows show, each once, named by their sha256 "
                           "(manifest.json gives each file's sha256).",
            "encodingFormat": content_type, "includes": f"images/*.{extension}",
        })  # fmt: skip
    fields = []
    for column in facts.schema:
        if column.name not in columns_of(facts.spec):
            continue
        data_type, repeated = _croissant_type(column)
        entry: dict[str, Any] = {
            "@type": "cr:Field", "@id": f"rows/{column.name}", "name": column.name,
            "description": COLUMN_DESCRIPTIONS.get(column.name, "A field of the item's data."),
            "dataType": data_type,
            "source": {"fileObject": {"@id": "data.parquet"}, "extract": {"column": column.name}},
        }  # fmt: skip
        if repeated:
            entry["repeated"] = True
        fields.append(entry)
    document = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_CONFORMS_TO,
        "name": facts.title,
        "description": project.description.strip()
        or f"Labels of record of the Accord project {project.name}, version {facts.label}.",
        "license": getattr(project, "license", "") or "other",
        "url": f"datasets/{project.pk}/{facts.version.pk}/",
        "version": f"{facts.number}.0.0",
        "datePublished": facts.built_at.isoformat(),
        "citeAs": f"{facts.title}, Accord project {project.pk}, content {facts.content_hash}",
        "distribution": distribution,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "rows",
                "name": "rows",
                "description": "One row per item with a label of record.",
                "key": {"@id": "rows/item_key"},
                "field": fields,
            }
        ],
    }
    return _json_bytes(document)
