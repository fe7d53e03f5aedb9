"""The files of a dataset version, written batch by batch into a directory, each hashed (sha256)
and measured as its bytes are written.

- `data.parquet` (always): the canonical file, zstd, one row group per batch of rows, with
  Hugging Face features in its schema's metadata so that `datasets` reads an image column as
  its Image feature (a struct of the image's bytes and its path within the version).
- `data.jsonl`: one JSON object a line, keys in column order; an image is the path of its file.
- `data.csv`: a header and a line a row; lists (multi-labels, annotation ids) as JSON text, an
  image as the path of its file, and a string cell that a spreadsheet would run as a formula
  (one starting with = + - @, a tab or a carriage return) with a leading apostrophe (OWASP,
  "CSV Injection"): strip one apostrophe before such a character to read the value back.
- `images/<sha256>.<ext>`: each image the rows show, once, as stored.

Each row's `row_hash` is the sha256 of its canonical JSON without `row_hash` (an image as its
sha256): `exports.specs.canonical_json` of {column: value}, built a batch at a time by
`exports.services.rowjson`, as are the JSON Lines.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.core.files.storage import default_storage

from core.storage import storage_stream
from exports.models import DatasetFile, DatasetFormat
from exports.services import rowjson
from exports.services.rows import BOOL, FLOAT64, INT64, JSON_TEXT, STRING, ImageRef, RowBatch
from exports.services.threads import Background
from exports.specs import DatasetSpec
from projects.models import LabelKind

CONTENT_TYPES: dict[str, str] = {
    DatasetFile.Kind.PARQUET: "application/vnd.apache.parquet",
    DatasetFile.Kind.JSONL: "application/jsonl",
    DatasetFile.Kind.CSV: "text/csv; charset=utf-8",
    DatasetFile.Kind.MANIFEST: "application/json",
    DatasetFile.Kind.CARD: "text/markdown; charset=utf-8",
    DatasetFile.Kind.CROISSANT: "application/ld+json",
}
IMAGE_CONTENT_TYPES: dict[str, str] = {
    "png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
    "bmp": "image/bmp", "tif": "image/tiff",
}  # fmt: skip
DATA_FILES: dict[str, str] = {
    DatasetFormat.PARQUET: "data.parquet",
    DatasetFormat.JSONL: "data.jsonl",
    DatasetFormat.CSV: "data.csv",
}
FORMULA_START = r"^[=+\-@\t\r]"
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(), "image": IMAGE_TYPE, STRING: pa.string(), JSON_TEXT: pa.string(),
    INT64: pa.int64(), FLOAT64: pa.float64(), BOOL: pa.bool_(),
}  # fmt: skip
LABEL_TYPES: dict[str, pa.DataType] = {
    LabelKind.SINGLE: pa.string(),
    LabelKind.MULTI: pa.list_(pa.string()),
    LabelKind.RATING: pa.int64(),
}
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class WrittenFile:
    """A finished file of a version: its name within the version, where it is now, and what
    it is."""

    name: str
    kind: str
    content_type: str
    path: Path
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "content_type": self.content_type,
                "size": self.size, "sha256": self.sha256}  # fmt: skip


class HashingFile:
    """A binary file being written, hashed and measured as it goes (pyarrow's writers take it
    as any Python file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: IO[bytes] = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.hasher = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.hasher.update(view)
        self.size += len(view)
        return self.file.write(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.file.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self.file.close()
            self.closed = True

    def finish(self, name: str, kind: str, content_type: str) -> WrittenFile:
        self.close()
        return WrittenFile(name=name, kind=kind, content_type=content_type, path=self.path,
                           size=self.size, sha256=self.hasher.hexdigest())  # fmt: skip


def write_file(
    directory: Path, name: str, kind: str, content: bytes, content_type: str | None = None
) -> WrittenFile:
    """A file written whole (the metadata files, an image)."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    out = HashingFile(path)
    out.write(content)
    content_type = content_type or CONTENT_TYPES.get(kind, "application/octet-stream")
    return out.finish(name, kind, content_type)


def columns_of(spec: DatasetSpec) -> list[str]:
    return ["item_key", *spec.fields, "label", "label_source", "label_method", "confidence",
            "agreement", "n_annotations", "annotation_ids", "split", "row_hash"]  # fmt: skip


def huggingface_features(schema: pa.Schema) -> dict[str, Any]:
    """The `datasets` features of the columns it cannot tell from Arrow alone (an image) and of
    the plain values; list columns are left for it to infer, since their feature's name
    changed between its releases (Sequence, then List)."""
    values = {pa.string(): "string", pa.int64(): "int64", pa.int32(): "int32",
              pa.float64(): "float64", pa.bool_(): "bool"}  # fmt: skip
    features: dict[str, Any] = {}
    for column in schema:
        if column.type == IMAGE_TYPE:
            features[column.name] = {"_type": "Image"}
        elif column.type in values:
            features[column.name] = {"dtype": values[column.type], "_type": "Value"}
    return features


def version_schema(spec: DatasetSpec, kinds: dict[str, str], label_kind: str) -> pa.Schema:
    """The Arrow schema of a version's rows (column order as `columns_of`)."""
    columns = [pa.field("item_key", pa.string())]
    columns += [pa.field(name, ARROW_TYPES[kinds[name]]) for name in spec.fields]
    columns += [
        pa.field("label", LABEL_TYPES[label_kind]),
        pa.field("label_source", pa.string()),
        pa.field("label_method", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("agreement", pa.float64()),
        pa.field("n_annotations", pa.int32()),
        pa.field("annotation_ids", pa.list_(pa.int64())),
        pa.field("split", pa.string()),
        pa.field("row_hash", pa.string()),
    ]
    schema = pa.schema(columns)
    metadata = {"info": {"features": huggingface_features(schema)}}
    return schema.with_metadata({b"huggingface": json.dumps(metadata).encode()})


def schema_as_json(schema: pa.Schema) -> list[dict[str, Any]]:
    """The columns as JSON: name and Arrow type (as pyarrow prints it)."""
    return [{"name": column.name, "type": str(column.type)} for column in schema]


def neutralised(column: pa.Array) -> pa.Array:
    """A string column with a leading apostrophe on each cell a spreadsheet would run as a
    formula (module docstring)."""
    risky = pc.fill_null(pc.match_substring_regex(column, FORMULA_START), False)
    if not pc.any(risky).as_py():
        return column
    return pc.if_else(risky, pc.binary_join_element_wise(pa.scalar("'"), column, ""), column)


def _json_lists(column: pa.Array) -> pa.Array:
    """A list column as JSON text: integers, or labels (whose values need no escaping: a
    label's value is letters, digits, '_', '-' and '.')."""
    if pa.types.is_integer(column.type.value_type):
        joined = pc.binary_join(pc.cast(column, pa.list_(pa.string())), ",")
        return pc.binary_join_element_wise("[", joined, "]", "")
    joined = pc.binary_join(column, '","')
    quoted = pc.binary_join_element_wise('["', joined, '"]', "")
    return pc.if_else(pc.equal(pc.list_value_length(column), 0), pa.scalar("[]"), quoted)


class VersionWriter:
    """Writes a version's rows into `directory`, batch by batch, in every format of its spec.
    `write` returns the batch's row hashes; `close` returns the files written."""

    def __init__(
        self, *, directory: Path, spec: DatasetSpec, kinds: dict[str, str], label_kind: str
    ) -> None:
        self.directory = directory
        self.spec = spec
        self.kinds = kinds
        self.schema = version_schema(spec, kinds, label_kind)
        self.columns = columns_of(spec)
        self.image_fields = [name for name in spec.fields if kinds[name] == "image"]
        self.float_fields = [name for name in spec.fields if kinds[name] == FLOAT64]
        self.images: dict[str, WrittenFile] = {}
        self.background = Background(depth=2)
        self.parquet_file = HashingFile(directory / DATA_FILES[DatasetFormat.PARQUET])
        self.parquet = pq.ParquetWriter(self.parquet_file, self.schema, compression="zstd")
        self.jsonl_file = (
            HashingFile(directory / DATA_FILES[DatasetFormat.JSONL])
            if DatasetFormat.JSONL in spec.formats else None
        )  # fmt: skip
        self.csv_file: HashingFile | None = None
        self.csv: pacsv.CSVWriter | None = None
        if DatasetFormat.CSV in spec.formats:
            self.csv_file = HashingFile(directory / DATA_FILES[DatasetFormat.CSV])
            self.csv_schema = self._csv_schema()
            self.csv = pacsv.CSVWriter(self.csv_file, self.csv_schema)

    def _csv_schema(self) -> pa.Schema:
        def csv_type(column: pa.Field) -> pa.DataType:
            nested = pa.types.is_list(column.type) or column.type == IMAGE_TYPE
            return pa.string() if nested else column.type

        return pa.schema([pa.field(column.name, csv_type(column)) for column in self.schema])

    def write(self, batch: RowBatch, splits: list[str]) -> tuple[bytes, pa.Table]:
        """Write a batch of rows in every format; returns their hashes (the concatenation of
        their hex digests) and their table. The rows are laid out and hashed here; the files
        are written in the writer's thread while the caller goes on to the next batch."""
        images = self._images(batch)
        arrays = self._arrays(batch, splits, images)
        names = self.columns[:-1]
        texts = dict(zip(names, self._fragments(batch, arrays), strict=True))
        canonical = rowjson.objects([(name, texts[name]) for name in sorted(names)])
        hexes = rowjson.sha256_hex(canonical)
        row_hash = rowjson.hex_strings(hexes)
        table = pa.Table.from_arrays([*arrays, row_hash], schema=self.schema)
        lines = None
        if self.jsonl_file is not None:
            for name in self.image_fields:
                paths = [None if image is None else image.path for image in batch.fields[name]]
                texts[name] = rowjson.fragments(paths, pa.string())
            quoted = pc.binary_join_element_wise('"', row_hash, '"', "")
            lines = rowjson.objects([*texts.items(), ("row_hash", quoted)], end="}\n")
        self.background.submit(lambda: self._write_files(table, lines))
        return hexes, table

    def _write_files(self, table: pa.Table, lines: pa.Array | None) -> None:
        self.parquet.write_table(table, row_group_size=max(1, table.num_rows))
        if self.jsonl_file is not None and lines is not None:
            self.jsonl_file.write(rowjson.joined_bytes(lines))
        if self.csv is not None:
            self.csv.write_table(self._csv_table(table))

    def _images(self, batch: RowBatch) -> dict[str, bytes]:
        """The bytes of the batch's images by sha256 (for the Parquet file), each image file
        written the first time a row shows it."""
        wanted: dict[str, ImageRef] = {}
        for name in self.image_fields:
            for image in batch.fields[name]:
                if image is not None:
                    wanted.setdefault(image.sha256, image)
        found: dict[str, bytes] = {}
        for sha256, image in wanted.items():
            # One GET on S3, where opening the storage's file would cost two requests more.
            data = b"".join(storage_stream(default_storage, image.storage_name))
            found[sha256] = data
            if sha256 not in self.images:
                self.images[sha256] = write_file(
                    self.directory, image.path, DatasetFile.Kind.MEDIA, data,
                    content_type=IMAGE_CONTENT_TYPES.get(image.extension),
                )  # fmt: skip
        return found

    def _fragments(self, batch: RowBatch, arrays: list[pa.Array]) -> list[pa.Array]:
        """The JSON text of each value of each column (but row_hash): an image as its sha256;
        floats from the batch's Python floats, which JSON writes as Python prints them."""
        texts = []
        for name, array in zip(self.columns[:-1], arrays, strict=True):
            if name in self.image_fields:
                shas = [None if image is None else image.sha256 for image in batch.fields[name]]
                texts.append(rowjson.fragments(shas, pa.string()))
            elif name in ("confidence", "agreement"):
                texts.append(rowjson.fragments(getattr(batch, name), pa.float64()))
            elif name in self.float_fields:
                texts.append(rowjson.fragments(batch.fields[name], pa.float64()))
            else:
                texts.append(rowjson.fragments(array, array.type))
        return texts

    def _arrays(
        self, batch: RowBatch, splits: list[str], images: dict[str, bytes]
    ) -> list[pa.Array]:
        """The batch's columns as Arrow arrays, in column order, but row_hash."""
        arrays: list[pa.Array] = [pa.array(batch.keys, pa.string())]
        for name in self.spec.fields:
            values = batch.fields[name]
            if name in self.image_fields:
                arrays.append(_image_array(values, images))
            else:
                arrays.append(pa.array(values, ARROW_TYPES[self.kinds[name]]))
        return [
            *arrays,
            pa.array(batch.labels, self.schema.field("label").type),
            pa.array(batch.sources, pa.string()),
            pa.array(batch.methods, pa.string()),
            pa.array(batch.confidence, pa.float64()),
            pa.array(batch.agreement, pa.float64()),
            pa.array(batch.n_annotations, pa.int32()),
            batch.annotation_ids,
            pa.array(splits, pa.string()),
        ]

    def _csv_table(self, table: pa.Table) -> pa.Table:
        arrays = []
        for column in self.schema:
            values = table.column(column.name).combine_chunks()
            if column.type == IMAGE_TYPE:
                values = pc.struct_field(values, "path")
            elif pa.types.is_list(column.type):
                values = _json_lists(values)
            if pa.types.is_string(values.type):
                values = neutralised(values)
            arrays.append(values)
        return pa.Table.from_arrays(arrays, schema=self.csv_schema)

    def close(self) -> list[WrittenFile]:
        """Finish every file; the data files first, then the images."""
        self.background.join()
        self.parquet.close()
        files = [self.parquet_file.finish(
            DATA_FILES[DatasetFormat.PARQUET], DatasetFile.Kind.PARQUET,
            CONTENT_TYPES[DatasetFile.Kind.PARQUET],
        )]  # fmt: skip
        if self.jsonl_file is not None:
            files.append(self.jsonl_file.finish(
                DATA_FILES[DatasetFormat.JSONL], DatasetFile.Kind.JSONL,
                CONTENT_TYPES[DatasetFile.Kind.JSONL],
            ))  # fmt: skip
        if self.csv is not None and self.csv_file is not None:
            self.csv.close()
            files.append(self.csv_file.finish(
                DATA_FILES[DatasetFormat.CSV], DatasetFile.Kind.CSV,
                CONTENT_TYPES[DatasetFile.Kind.CSV],
            ))  # fmt: skip
        return files + sorted(self.images.values(), key=lambda image: image.name)

    def abort(self) -> None:
        """Close whatever is open (after a failure; the directory is removed by the caller)."""
        for closing in (self.background.join, self.parquet.close, *(
            f.close for f in (self.parquet_file, self.jsonl_file, self.csv_file) if f
        )):  # fmt: skip
            try:
                closing()
            except Exception:
                continue


def _image_array(values: list[ImageRef | None], images: dict[str, bytes]) -> pa.Array:
    """Images as the struct Hugging Face's Image feature stores: {bytes, path}."""
    present = [image is not None for image in values]
    data = pa.array([images[image.sha256] if image else None for image in values], pa.binary())
    paths = pa.array([image.path if image else None for image in values], pa.string())
    mask = pa.array([not p for p in present], pa.bool_())
    return pa.StructArray.from_arrays([data, paths], fields=list(IMAGE_TYPE), mask=mask)
