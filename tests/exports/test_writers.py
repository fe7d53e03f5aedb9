"""The writers on rows made by hand: formula neutralising, row hashes (orjson's fast path equal
to the canonical JSON byte for byte), the files' checksums, and what a CSV reader reads back.
tests/exports/test_build.py checks the same files built from a real project."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exports.services import rowjson
from exports.services.rows import FLOAT64, JSON_TEXT, STRING, RowBatch
from exports.services.writers import HashingFile, VersionWriter, neutralised
from exports.specs import DatasetSpec, canonical_json

TRICKY = [
    "=HYPERLINK(\"http://evil\",\"click\")", "+1+2", "-3", "@SUM(A1)", "\tindented", "\rcr",
    "plain", "a=b", " =spaced", "quote \" and, comma", "line\nbreak", "é ünïcode 🙂", "",
    "\x01 control", "back\\slash",
]  # fmt: skip
FLOATS = [0.5, 1e-05, 2.5e-300, 1e16, -1e20, 123456.789, 0.0, -0.0, 1 / 3, 0.0001, 9.99e15]


def spec(fields: list[str], formats: tuple[str, ...] = ("parquet", "jsonl", "csv")) -> DatasetSpec:
    return DatasetSpec.from_json({
        "sources": ["consensus"], "min_confidence": 0.0, "fields": fields,
        "splits": {"train": 1.0}, "salt": "s", "freeze_test": False, "formats": list(formats),
    })  # fmt: skip


def batch_of(n: int, **fields: list[Any]) -> RowBatch:
    ids = [[k, k + 1] for k in range(n)]
    return RowBatch(
        item_ids=list(range(1, n + 1)), keys=[f"k{k}" for k in range(n)], fields=fields,
        labels=[TRICKY[k % len(TRICKY)] for k in range(n)], sources=["consensus"] * n,
        methods=["majority"] * n, confidence=[FLOATS[k % len(FLOATS)] for k in range(n)],
        agreement=[None if k % 4 == 0 else 0.5 for k in range(n)], n_annotations=[2] * n,
        annotation_ids=pa.array(ids, pa.list_(pa.int64())),
    )  # fmt: skip


@pytest.fixture
def written(tmp_path: Path) -> tuple[list[Any], RowBatch, list[str], pa.Table]:
    n = len(TRICKY) * 2
    rows = batch_of(
        n, text=[TRICKY[(k + 3) % len(TRICKY)] for k in range(n)],
        score=[FLOATS[(k + 5) % len(FLOATS)] for k in range(n)],
        meta=[None if k % 3 else json.dumps({"b": [1, "x"], "a": k}) for k in range(n)],
    )  # fmt: skip
    writer = VersionWriter(
        directory=tmp_path, spec=spec(["text", "score", "meta"]),
        kinds={"text": "text", "score": FLOAT64, "meta": JSON_TEXT}, label_kind="single",
    )  # fmt: skip
    hashes, table = writer.write(rows, ["train"] * n)
    return writer.close(), rows, hashes, table


def test_every_cell_a_spreadsheet_would_run_gets_an_apostrophe():
    cells = pa.array([*TRICKY, None])
    expected = [
        "'" + cell if cell and cell[0] in "=+-@\t\r" else cell for cell in TRICKY
    ] + [None]  # fmt: skip
    assert neutralised(cells).to_pylist() == expected
    assert neutralised(pa.array(["safe", None])).to_pylist() == ["safe", None]


def test_row_hashes_are_the_sha256_of_the_canonical_json_floats_included(written):
    _, _, hashes, table = written
    for row in table.to_pylist():
        row_hash = row.pop("row_hash")
        assert row_hash == hashlib.sha256(canonical_json(row)).hexdigest(), row
    assert hashes.decode() == "".join(table.column("row_hash").to_pylist())


def test_orjson_escapes_a_string_as_json_does():
    every_character = "".join(chr(c) for c in range(0x80)) + "\u2028\u2029é🙂\ufeff"
    for text in [*TRICKY, every_character]:
        assert orjson.dumps(text) == canonical_json(text), text


@pytest.mark.parametrize(
    ("values", "arrow_type"),
    [
        ([*TRICKY, None], pa.string()),
        ([*FLOATS, None, 1.0, 1e300, float("nan"), float("inf")], pa.float64()),
        ([0, -1, 2**62, -(2**63), None], pa.int64()),
        ([True, False, None], pa.bool_()),
        ([[3, 1], [], None, [2**40]], pa.list_(pa.int64())),
        ([["neg", "pos"], [], None, ["a.b-c_d"]], pa.list_(pa.string())),
    ],
)
def test_each_value_is_written_as_json_writes_it(values: list[Any], arrow_type: pa.DataType):
    texts = rowjson.fragments(values, arrow_type).to_pylist()
    assert texts == [canonical_json(value).decode() for value in values]


def test_files_are_hashed_and_measured_as_written(written, tmp_path: Path):
    files, *_ = written
    assert [f.name for f in files] == ["data.parquet", "data.jsonl", "data.csv"]
    for file in files:
        data = (tmp_path / file.name).read_bytes()
        assert file.size == len(data) > 0
        assert file.sha256 == hashlib.sha256(data).hexdigest()
    out = HashingFile(tmp_path / "x.bin")
    out.write(b"abc")
    out.write(memoryview(b"defg"))
    done = out.finish("x.bin", "media", "application/octet-stream")
    assert done.size == 7 == (tmp_path / "x.bin").stat().st_size
    assert done.sha256 == hashlib.sha256(b"abcdefg").hexdigest()


def test_the_csv_reads_back_as_the_parquet_rows(written, tmp_path: Path):
    _, _, _, table = written
    with open(tmp_path / "data.csv", newline="", encoding="utf-8") as source:
        cells = list(csv.DictReader(source))
    parquet = pq.read_table(tmp_path / "data.parquet").to_pylist()

    assert list(cells[0]) == table.column_names
    for cell, row in zip(cells, parquet, strict=True):
        for name in ("item_key", "text", "label", "label_source", "split", "row_hash"):
            text = cell[name]
            if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r"):
                text = text[1:]  # neutralised
            assert text == (row[name] or ""), (name, cell[name], row[name])
        assert json.loads(cell["annotation_ids"]) == row["annotation_ids"]
        for name in ("confidence", "agreement", "score"):
            assert (float(cell[name]) if cell[name] else None) == row[name]
        assert (json.loads(cell["meta"]) if cell["meta"] else None) == (
            json.loads(row["meta"]) if row["meta"] else None
        )


def test_the_json_lines_hold_the_rows_in_column_order(written, tmp_path: Path):
    _, _, _, table = written
    lines = (tmp_path / "data.jsonl").read_bytes().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [list(row) for row in rows] == [table.column_names] * table.num_rows
    assert rows == table.to_pylist()


def test_a_multi_label_csv_cell_is_json_text(tmp_path: Path):
    rows = batch_of(3, text=["a", "b", "c"])
    rows.labels = [["neg", "pos"], [], ["pos"]]
    writer = VersionWriter(
        directory=tmp_path, spec=spec(["text"], ("parquet", "csv")), kinds={"text": "text"},
        label_kind="multi",
    )  # fmt: skip
    writer.write(rows, ["train"] * 3)
    writer.close()
    cells = list(csv.DictReader(io.StringIO((tmp_path / "data.csv").read_text())))
    assert [json.loads(c["label"]) for c in cells] == [["neg", "pos"], [], ["pos"]]
    assert not (tmp_path / "data.jsonl").exists()


def test_a_string_column_holds_strings_and_json_text_of_anything_else(tmp_path: Path):
    rows = batch_of(2, source=["email", None])
    writer = VersionWriter(
        directory=tmp_path, spec=spec(["source"], ("parquet",)), kinds={"source": STRING},
        label_kind="single",
    )  # fmt: skip
    _, table = writer.write(rows, ["train"] * 2)
    writer.close()
    assert table.column("source").to_pylist() == ["email", None]
    assert table.schema.field("source").type == pa.string()
