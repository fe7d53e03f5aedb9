"""The rows of a dataset version, read from the database in batches of item ids.

A row is an item with a label of record whose source the spec takes (and, for a consensus,
whose confidence reaches the spec's minimum), joined with the item's fields and its
agreement. Items in conflict and ambiguous ones have no label of record, so never appear.

Each batch is one statement through `core.sql` (keyset on the label of record's item id, in
item id order) and comes back column by column as Python lists, ready for pyarrow: no ORM
object per row, and JSON is decoded a batch at a time (each column's JSON texts joined into
one array and decoded in one call), so memory stays that of one batch whatever the size of
the project.

The columns' types (exports/services/writers.py builds the Arrow schema from them):
- text: string; image: the item's stored image (`ImageRef`), written by the writers;
- a key of Item.data: typed by the values the version's items have for it (`field_kinds`):
  only strings -> string; only integers -> int64; numbers -> float64; only booleans -> bool;
  objects, arrays or a mix of kinds -> string holding each value's canonical JSON text
  (json.loads gives the value back). A missing key or a JSON null is null.
- label: a single label's value; a multi-label set as its sorted values; a rating as int.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection

from agreement.models import LabelSource
from core import sql
from exports.services.splits import TWO_TO_64
from exports.specs import ITEM_FIELDS, DatasetSpec
from projects.models import LabelKind, Project
from projects.services.images import IMAGE_FORMATS

# The kinds of a data key's column.
STRING, INT64, FLOAT64, BOOL, JSON_TEXT = "string", "int64", "float64", "bool", "json"
INT64_LIMIT = 2**63


class ImageRef(NamedTuple):
    """An item's image: its sha256, file extension and name in the default storage."""

    sha256: str
    extension: str
    storage_name: str

    @property
    def path(self) -> str:
        """Where the image is within a version (JSON Lines and CSV point there)."""
        return f"images/{self.sha256}.{self.extension}"


@dataclass
class RowBatch:
    """A batch of rows, column by column, in item id order."""

    item_ids: list[int]
    keys: list[str]
    fields: dict[str, list[Any]]
    labels: list[Any]
    sources: list[str]
    methods: list[str]
    confidence: list[float | None]
    agreement: list[float | None]
    n_annotations: list[int]
    annotation_ids: pa.Array  # list<int64>, each row's sorted
    import_job_ids: set[int] = field(default_factory=set)
    # Each key's split position when the database computed it (exports.services.splits).
    positions: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.item_ids)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _json_text(column: str) -> str:
    """A JSON column as its JSON text (SQLite stores the text itself)."""
    return f"{column}::text" if _postgres() else column


def _data_value(name: str) -> tuple[str, Any]:
    """SQL for a key of Item.data as JSON text (NULL when missing), and its parameter."""
    if _postgres():
        return "(i.data -> %s::text)::text", name
    return "i.data -> %s", f'$."{name}"'


def _where(project: Project, spec: DatasetSpec) -> tuple[str, list[Any]]:
    """The labels of record the spec takes: by source, and a consensus by its confidence (a
    null confidence passes only a minimum of 0)."""
    clause = f"l.project_id = %s AND l.source IN ({', '.join(['%s'] * len(spec.sources))})"
    params: list[Any] = [project.pk, *spec.sources]
    if LabelSource.CONSENSUS in spec.sources and spec.min_confidence > 0:
        clause += " AND (l.source <> %s OR l.confidence >= %s)"
        params += [LabelSource.CONSENSUS, spec.min_confidence]
    return clause, params


def rows_count(*, project: Project, spec: DatasetSpec) -> int:
    """How many rows the spec gives now (the build's progress total)."""
    where, params = _where(project, spec)
    row = sql.fetch_one(f"SELECT count(*) FROM agreement_labelofrecord l WHERE {where}", params)
    return int(row[0]) if row else 0


def field_kinds(*, project: Project, spec: DatasetSpec) -> dict[str, str]:
    """Each field's kind: "text", "image", or a data key's (the module says how), from one scan
    of the version's items."""
    kinds = {name: name for name in spec.fields if name in ITEM_FIELDS}
    data_fields = [name for name in spec.fields if name not in ITEM_FIELDS]
    if not data_fields:
        return kinds
    where, params = _where(project, spec)
    values = [_data_value(name) for name in data_fields]
    if _postgres():
        outer = ", ".join(
            f"array_agg(DISTINCT t{n}), "
            f"bool_and(n{n} IS NULL OR (n{n} = trunc(n{n}) AND abs(n{n}) < {INT64_LIMIT}))"
            for n in range(len(data_fields))
        )
        middle = ", ".join(
            f"jsonb_typeof(v{n}) AS t{n}, "
            f"CASE WHEN jsonb_typeof(v{n}) = 'number' THEN v{n}::text::numeric END AS n{n}"
            for n in range(len(data_fields))
        )
        inner = ", ".join(f"i.data -> %s::text AS v{n}" for n in range(len(data_fields)))
        statement = (
            f"SELECT {outer} FROM (SELECT {middle} FROM (SELECT {inner}"
            " FROM agreement_labelofrecord l JOIN projects_item i ON i.id = l.item_id"
            f" WHERE {where}) AS d) AS t"
        )
    else:
        statement = (
            "SELECT "
            + ", ".join("json_group_array(DISTINCT json_type(i.data, %s)), 1" for _ in values)
            + " FROM agreement_labelofrecord l JOIN projects_item i ON i.id = l.item_id"
            f" WHERE {where}"
        )
    row = sql.fetch_one(statement, [*(param for _, param in values), *params])
    assert row is not None
    for n, name in enumerate(data_fields):
        found, integral = row[2 * n], row[2 * n + 1]
        if not _postgres():
            found = json.loads(found)
        kinds[name] = _kind_of({kind for kind in (found or []) if kind}, bool(integral))
    return kinds


def _kind_of(found: set[str], integral: bool) -> str:
    """A data key's kind from the JSON types its values have (PostgreSQL's jsonb_typeof or
    SQLite's json_type names)."""
    found = found - {"null"}
    if not found or found == {"string"} or found == {"text"}:
        return STRING
    if found in ({"boolean"}, {"true"}, {"false"}, {"true", "false"}):
        return BOOL
    if found == {"number"}:
        return INT64 if integral else FLOAT64
    if found == {"integer"}:
        return INT64
    if found <= {"integer", "real"}:
        return FLOAT64
    return JSON_TEXT


def _decoded(texts: tuple[str | None, ...]) -> list[Any]:
    """JSON texts (None for NULL) decoded in one call."""
    if not texts:
        return []
    return orjson.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")  # type: ignore[no-any-return]


def _canonical_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _coerced(values: list[Any], kind: str) -> list[Any]:
    """Values of a data key as its column holds them (a value that does not fit its column's
    kind, which only an item changed since `field_kinds` could have: as JSON text in a string
    column, else null)."""
    if kind == STRING:
        return [v if v is None or isinstance(v, str) else _canonical_text(v) for v in values]
    if kind == JSON_TEXT:
        return [None if v is None else _canonical_text(v) for v in values]
    if kind == INT64:
        return [
            v if isinstance(v, int) and not isinstance(v, bool) and -INT64_LIMIT <= v < INT64_LIMIT
            else (int(v) if isinstance(v, float) and v.is_integer() and abs(v) < INT64_LIMIT
                  else None)
            for v in values
        ]  # fmt: skip
    if kind == FLOAT64:
        return [float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
                for v in values]  # fmt: skip
    return [v if isinstance(v, bool) else None for v in values]


def _label_column(label_kind: str) -> str:
    """SQL for the label of record's value: a single label's text or a rating's integer
    extracted by the database, a multi-label list as JSON text."""
    if label_kind == LabelKind.MULTI:
        return _json_text("l.value")
    if _postgres():
        scalar = "l.value #>> '{}'"
        return f"({scalar})::numeric::bigint" if label_kind == LabelKind.RATING else scalar
    scalar = "json_extract(l.value, '$')"
    return f"CAST({scalar} AS INTEGER)" if label_kind == LabelKind.RATING else scalar


def _labels(values: tuple[Any, ...], label_kind: str) -> list[Any]:
    if label_kind == LabelKind.MULTI:
        return [sorted(labels) for labels in _decoded(values)]
    return list(values)


# After an annotation id of a label of record's {id: revision}, as PostgreSQL writes jsonb: the
# key's closing quote and the revision (replaced by a literal: no Python call per match).
_REVISION = re.compile(r'": \d+')
_NOT_IDS = re.compile(r"[^0-9{}, \n]")
_NOT_DIGITS = re.compile(r"[^0-9]+")


def _annotation_ids(texts: tuple[str, ...]) -> pa.Array:
    """The annotation ids of each row, sorted, as an Arrow list<int64> array.

    PostgreSQL writes a jsonb object's keys shortest first, then in byte order: decimal ids in
    numeric order. So a batch's JSON texts become the ids' arrays by a few passes over their
    joined text, with no Python object per id; the order is checked, and anything unexpected
    (or SQLite's text, kept as written) goes the slow way, one row at a time."""
    if _postgres() and texts:
        joined = "\n".join(texts)
        keys = _REVISION.sub("", joined).replace('"', "")
        if not _NOT_IDS.search(keys):
            counts = np.fromiter((t.count(":") for t in texts), dtype=np.int64, count=len(texts))
            digits = _NOT_DIGITS.sub(",", keys).strip(",")
            values = np.fromstring(digits, dtype=np.int64, sep=",")
            offsets = np.concatenate([[0], np.cumsum(counts)])
            if len(values) == offsets[-1]:
                follows = np.ones(len(values), dtype=bool)
                follows[offsets[:-1][counts > 0]] = False  # each row's first id
                if bool((np.diff(values, prepend=0)[follows] > 0).all()):
                    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values))
    lists = [sorted(map(int, chosen)) for chosen in _decoded(texts)]
    return pa.array(lists, pa.list_(pa.int64()))


class _Select:
    """The statements of a batch, and where each column lands in its rows."""

    def __init__(self, project: Project, spec: DatasetSpec, kinds: dict[str, str]) -> None:
        columns = ["l.item_id", "i.key", _label_column(project.label_kind), "l.source",
                   "l.method", "l.confidence", "a.observed", "a.n_annotations",
                   _json_text("l.annotations"), "i.import_job_id"]  # fmt: skip
        params: list[Any] = []
        if _postgres():
            # The first 8 bytes of each key's split hash (exports.services.splits), computed
            # by the database while Python works on the batch before.
            columns.append("substring(sha256(%s::bytea || convert_to(i.key, 'UTF8')) from 1 for 8)")
            params.append(spec.salt.encode() + b"\x00")
        self.field_columns: dict[str, int] = {}
        joins = ""
        for name in spec.fields:
            self.field_columns[name] = len(columns)
            if name == "text":
                columns.append("i.text")
            elif name == "image":
                columns += ["b.sha256", "b.format", "b.file"]
                joins = " LEFT JOIN projects_imageblob b ON b.id = i.image_id"
            else:
                expression, param = _data_value(name)
                columns.append(expression)
                params.append(param)
        where, self.where_params = _where(project, spec)
        # The batch's last item id first, then its rows between two bounds on every table's
        # key: a bound on the label of record's alone leaves the join scanning the items and
        # their agreement rows from the project's first (PostgreSQL merges on the keys).
        self.bound = (
            "SELECT max(item_id) FROM (SELECT l.item_id FROM agreement_labelofrecord l"
            f" WHERE {where} AND l.item_id > %s ORDER BY l.item_id LIMIT %s) AS b"
        )
        self.statement = (
            f"SELECT {', '.join(columns)} FROM agreement_labelofrecord l"
            " JOIN projects_item i ON i.id = l.item_id"
            " LEFT JOIN agreement_itemagreement a ON a.item_id = l.item_id"
            " AND a.item_id > %s AND a.item_id <= %s"
            f"{joins} WHERE {where} AND l.item_id > %s AND l.item_id <= %s"
            " AND i.id > %s AND i.id <= %s ORDER BY l.item_id"
        )
        self.params = params
        self.kinds = kinds
        self.label_kind = project.label_kind

    def rows(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        bound = sql.fetch_one(self.bound, [*self.where_params, after, limit])
        if bound is None or bound[0] is None:
            return []
        last = bound[0]
        return sql.fetch_all(
            self.statement,
            [*self.params, after, last, *self.where_params, after, last, after, last],
        )

    def batch(self, rows: list[tuple[Any, ...]]) -> RowBatch:
        columns = list(zip(*rows, strict=True))
        (item_ids, keys, values, sources, methods, confidence, observed, counts, annotations,
         import_jobs) = columns[:10]  # fmt: skip
        positions = (
            np.frombuffer(b"".join(columns[10]), dtype=">u8").astype(np.float64) / TWO_TO_64
            if _postgres() else None
        )  # fmt: skip
        id_array = _annotation_ids(annotations)
        fields: dict[str, list[Any]] = {}
        for name, at in self.field_columns.items():
            kind = self.kinds[name]
            if kind == "text":
                fields[name] = list(columns[at])
            elif kind == "image":
                fields[name] = [
                    None if sha is None else ImageRef(sha, IMAGE_FORMATS.get(fmt, "bin"), file)
                    for sha, fmt, file in zip(columns[at], columns[at + 1], columns[at + 2],
                                              strict=True)
                ]  # fmt: skip
            else:
                fields[name] = _coerced(_decoded(columns[at]), kind)
        n_annotations = list(counts)
        if None in n_annotations:
            # An item never evaluated (a lead's resolution or a gold answer alone): the
            # annotations its label rests on.
            lengths = pc.fill_null(pc.list_value_length(id_array), 0).to_pylist()
            n_annotations = [
                length if count is None else count
                for count, length in zip(n_annotations, lengths, strict=True)
            ]
        return RowBatch(
            item_ids=list(item_ids),
            keys=list(keys),
            fields=fields,
            labels=_labels(values, self.label_kind),
            sources=list(sources),
            methods=list(methods),
            confidence=list(confidence),
            agreement=list(observed),
            n_annotations=n_annotations,
            annotation_ids=id_array,
            import_job_ids={job for job in import_jobs if job is not None},
            positions=positions,
        )


def rows_stream(
    *, project: Project, spec: DatasetSpec, kinds: dict[str, str], batch_rows: int
) -> Iterator[RowBatch]:
    """The version's rows in item id order, `batch_rows` at a time."""
    select = _Select(project, spec, kinds)
    after = 0
    while rows := select.rows(after, batch_rows):
        yield select.batch(rows)
        after = rows[-1][0]


def rows_annotation_import_jobs(*, project: Project, spec: DatasetSpec) -> list[int]:
    """The annotation imports that brought in annotations of the version's items (through the
    index of imported annotations only: nothing to read when none was imported)."""
    where, params = _where(project, spec)
    rows = sql.fetch_all(
        "SELECT DISTINCT n.import_job_id FROM labeling_annotation n"
        " JOIN agreement_labelofrecord l ON l.item_id = n.item_id"
        f" WHERE n.import_job_id IS NOT NULL AND n.project_id = %s AND {where}"
        " ORDER BY n.import_job_id",
        [project.pk, *params],
    )
    return [int(row[0]) for row in rows]
