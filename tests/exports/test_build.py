"""Building dataset versions of projects labeled through the real services: what the files hold
(read back by pyarrow, pandas, csv, json and Hugging Face `datasets`), the manifest's
checksums, immutability, unchanged builds, splits that hold across versions, atomicity when a
build fails or another version becomes ready under it, the command and the task.

alice leads; bob and carol rate (two raters per item: both must agree for a consensus)."""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import CommandError, call_command
from django.db import transaction
from PIL import Image
from scipy.stats import chi2_contingency

from agreement.models import Conflict, ItemAgreement, LabelOfRecord
from agreement.services.conflicts import conflict_reopen, conflict_resolve
from core.jobs.models import JobStatus
from exports.models import DatasetFile, DatasetVersion, VersionOutcome, WebhookDelivery
from exports.services import build as build_service
from exports.services.build import (
    dataset_version_request,
    dataset_version_retry,
    dataset_version_run,
    stored_names,
    work_directory,
)
from exports.services.splits import Splitter
from exports.services.webhooks import webhook_create
from exports.specs import DatasetSpec, canonical_json
from projects.models import ContentType, Item, LabelKind
from projects.services.archive import ProjectArchived, project_archive
from projects.services.images import image_store
from tests.exports.conftest import build, label_all, records, resolve_conflicts
from tests.exports.webhook_receiver import running_receiver
from tests.factories import UserFactory, make_items, make_project

TEXT_COLUMNS = [
    ("item_key", pa.string()), ("text", pa.string()), ("label", pa.string()),
    ("label_source", pa.string()), ("label_method", pa.string()),
    ("confidence", pa.float64()), ("agreement", pa.float64()), ("n_annotations", pa.int32()),
    ("annotation_ids", pa.list_(pa.int64())), ("split", pa.string()),
    ("row_hash", pa.string()),
]  # fmt: skip


def disagreeing(item: Item, rater: Any) -> str:
    """bob says negative on every fifth item, carol on every seventh: they disagree on items
    that are one and not the other (conflicts), and agree elsewhere (negative on 0 and 35)."""
    n = int(item.key.rsplit("-", 1)[1])
    if (rater.username, n % 5 == 0, n % 7 == 0) in (
        ("bob", True, False),
        ("bob", True, True),
        ("carol", False, True),
        ("carol", True, True),
    ):
        return "negative"
    return "positive"


@pytest.fixture
def labeled(project, alice, bob, carol):
    """40 items labeled; conflicts on items 5, 7, 10, 14, 15, 20, 21, 25, 28, 30: the first
    three resolved as neutral, the rest left open."""
    make_items(project, 40)
    label_all(project, [bob, carol], disagreeing)
    for conflict in Conflict.objects.filter(project=project).order_by("item_id")[:3]:
        conflict_resolve(conflict=conflict, lead=alice, value="neutral")
    return project


def stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as file:
        return file.read()


def parquet_of(version: DatasetVersion) -> pa.Table:
    return pq.read_table(io.BytesIO(stored(version.storage_prefix + "data.parquet")))


def row_hash(row: dict[str, Any], image_fields: tuple[str, ...] = ()) -> str:
    row = {name: value for name, value in row.items() if name != "row_hash"}
    for name in image_fields:
        row[name] = None if row[name] is None else hashlib.sha256(row[name]["bytes"]).hexdigest()
    return hashlib.sha256(canonical_json(row)).hexdigest()


# --- what a version holds ------------------------------------------------------------------------


def test_a_version_holds_every_item_with_a_label_of_record_and_nothing_else(labeled, alice):
    version = build(labeled, alice)

    assert version.status == JobStatus.SUCCEEDED, version.message
    assert (version.number, version.outcome, version.parent) == (1, VersionOutcome.BUILT, None)
    table = parquet_of(version)
    assert [(f.name, f.type) for f in table.schema] == TEXT_COLUMNS
    of_record = records(labeled)
    assert len(of_record) == 40 - 7, "33 agreed or resolved; 7 conflicts left open"
    rows = table.to_pylist()
    assert [row["item_key"] for row in rows] == sorted(
        of_record, key=lambda key: of_record[key].item_id
    )
    observed = dict(ItemAgreement.objects.filter(project=labeled).values_list("item", "observed"))
    for row in rows:
        record = of_record[row["item_key"]]
        assert row["text"] == record.item.text
        assert row["label"] == record.value
        assert (row["label_source"], row["label_method"]) == (record.source, record.method)
        assert row["confidence"] == record.confidence
        assert row["agreement"] == observed[record.item_id]
        assert row["n_annotations"] == 2
        assert row["annotation_ids"] == sorted(int(a) for a in record.annotations)
    keys = [row["item_key"] for row in rows]
    by_hash = Splitter(DatasetSpec.from_json(version.spec)).assign(keys)
    assert [row["split"] for row in rows] == by_hash, "the database's hashes are Python's"
    resolved = [row for row in rows if row["label_source"] == "resolution"]
    assert [(r["label"], r["label_method"], r["confidence"]) for r in resolved] == [
        ("neutral", "lead", None)
    ] * 3
    assert version.row_count == 33
    assert version.label_counts == {"negative": 2, "neutral": 3, "positive": 28}
    assert sum(version.split_counts.values()) == 33


def test_pandas_reads_the_parquet_file_with_the_columns_types(labeled, alice):
    version = build(labeled, alice)
    frame = pd.read_parquet(io.BytesIO(stored(version.storage_prefix + "data.parquet")))
    assert list(frame.columns) == [name for name, _ in TEXT_COLUMNS]
    assert str(frame["n_annotations"].dtype) == "int32"
    assert str(frame["confidence"].dtype) == "float64"
    assert frame["annotation_ids"].map(len).eq(2).all()
    assert frame.loc[frame["label_source"] == "resolution", "confidence"].isna().all()


def test_row_hashes_and_the_content_hash_can_be_checked_from_the_parquet_file(labeled, alice):
    version = build(labeled, alice)
    rows = parquet_of(version).to_pylist()

    assert all(row["row_hash"] == row_hash(row) for row in rows)
    content = hashlib.sha256("".join(row["row_hash"] for row in rows).encode()).hexdigest()
    assert version.content_hash == content == version.manifest["content_hash"]


def test_the_manifest_lists_every_file_with_its_sha256_and_size(labeled, alice):
    version = build(labeled, alice, name="First cut", note="Before the June batch.")
    manifest = json.loads(stored(version.storage_prefix + "manifest.json"))

    assert manifest == version.manifest
    listed = {entry["name"]: entry for entry in manifest["files"]}
    assert set(listed) == {"data.parquet", "data.jsonl", "data.csv", "README.md",
                           "croissant.json"}  # fmt: skip
    for name, entry in listed.items():
        data = stored(version.storage_prefix + name)
        assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    files = {f.name: f for f in version.files.all()}
    assert set(files) == {*listed, "manifest.json"}
    for name, file in files.items():
        data = stored(file.storage_name)
        assert file.storage_name == f"datasets/{labeled.pk}/{version.pk}/{name}"
        assert (file.size, file.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert sorted(stored_names(version.storage_prefix)) == sorted(
        f.storage_name for f in files.values()
    )
    assert manifest["version"] == {
        "id": version.pk, "number": 1, "label": "v1", "name": "First cut",
        "note": "Before the June batch.",
    }  # fmt: skip
    assert manifest["parent"] is None
    assert manifest["created_by"] == "alice"
    assert manifest["accord_version"] == importlib.metadata.version("accord")
    assert manifest["spec"] == version.spec and manifest["spec_hash"] == version.spec_hash
    assert manifest["counts"]["rows"] == 33
    assert manifest["counts"]["labels"] == {"negative": 2, "neutral": 3, "positive": 28}
    assert sum(manifest["counts"]["splits"].values()) == 33
    by_split = manifest["counts"]["labels_by_split"]
    assert sum(sum(labels.values()) for labels in by_split.values()) == 33
    assert manifest["counts"]["sources"] == {"consensus": 30, "resolution": 3}
    assert [c["name"] for c in manifest["schema"]["columns"]] == [n for n, _ in TEXT_COLUMNS]
    assert manifest["lineage"]["label_methods"] == {"lead": 3, "majority": 30}
    assert manifest["lineage"]["import_jobs"] == []  # made by the factory, not an import
    assert manifest["lineage"]["project"]["id"] == labeled.pk


def test_the_dataset_card_and_the_croissant_metadata(labeled, alice):
    version = build(labeled, alice)
    card = stored(version.storage_prefix + "README.md").decode()
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]

    for line in (
        'pretty_name: "Sentiment v1"',
        'license: "other"',
        "- text-classification",
        "- n<1K",
        "configs:",
        "- config_name: default",
        "  data_files: data.parquet",
    ):
        assert line in front.splitlines(), line  # fmt: skip
    assert "| split | rows | negative | neutral | positive |" in body
    croissant = json.loads(stored(version.storage_prefix + "croissant.json"))
    assert croissant["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    assert croissant["@type"] == "sc:Dataset"
    files = {f.name: f for f in version.files.all()}
    objects = {d["@id"]: d for d in croissant["distribution"]}
    assert set(objects) == {"data.parquet", "data.jsonl", "data.csv"}
    for name, entry in objects.items():
        assert entry["@type"] == "cr:FileObject"
        assert entry["sha256"] == files[name].sha256
    fields = croissant["recordSet"][0]["field"]
    assert [f["name"] for f in fields] == [name for name, _ in TEXT_COLUMNS]
    assert fields[2]["dataType"] == ["sc:Text", "cr:Label"]
    assert fields[8]["repeated"] is True


def test_mlcommons_croissant_reader_reads_the_rows_through_the_metadata(
    labeled, alice, tmp_path: Path
):
    mlcroissant = pytest.importorskip("mlcroissant")
    version = build(labeled, alice)
    for name in ("croissant.json", "data.parquet"):
        (tmp_path / name).write_bytes(stored(version.storage_prefix + name))

    dataset = mlcroissant.Dataset(jsonld=str(tmp_path / "croissant.json"))
    records = list(dataset.records(record_set="rows"))

    rows = parquet_of(version).to_pylist()
    assert dataset.metadata.name == "Sentiment v1"
    assert [r["rows/item_key"].decode() for r in records] == [r["item_key"] for r in rows]
    assert [list(r["rows/annotation_ids"]) for r in records] == [r["annotation_ids"] for r in rows]
    assert [r["rows/label"].decode() for r in records] == [r["label"] for r in rows]


def test_json_lines_and_csv_hold_the_same_rows_as_the_parquet_file(project, alice, bob, carol):
    """Texts a spreadsheet would run, with quotes, commas, line breaks and accents: the CSV
    reads back the same once a neutralised cell loses its apostrophe."""
    texts = ['=HYPERLINK("http://x","y")', "+cmd", "-1", "@A1", "\tx", "a, \"quoted\"\nline",
             "naïve café", "'already"]  # fmt: skip
    for n, text in enumerate(texts):
        Item.objects.create(project=project, key=f"t-{n}", text=text, content_hash=str(n))
    label_all(project, [bob, carol], lambda item, rater: "positive")
    version = build(project, alice)

    rows = parquet_of(version).to_pylist()
    assert {row["text"] for row in rows} == set(texts)
    lines = [json.loads(line) for line in stored(version.storage_prefix + "data.jsonl").split(b"\n")
             if line]  # fmt: skip
    assert lines == rows
    cells = list(csv.DictReader(StringIO(stored(version.storage_prefix + "data.csv").decode())))
    assert len(cells) == len(rows)
    for cell, row in zip(cells, rows, strict=True):
        text = cell["text"]
        if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r"):
            text = text[1:]
        assert text == row["text"]
        assert cell["text"][:1] not in ("=", "+", "-", "@", "\t", "\r")
        assert json.loads(cell["annotation_ids"]) == row["annotation_ids"]
        assert float(cell["confidence"]) == row["confidence"]
        assert int(cell["n_annotations"]) == row["n_annotations"]


@pytest.mark.parametrize(
    ("kind", "values", "arrow_type", "expected"),
    [
        (LabelKind.MULTI, {"bob": ["positive", "neutral"], "carol": ["neutral", "positive"]},
         pa.list_(pa.string()), ["neutral", "positive"]),
        (LabelKind.RATING, {"bob": 4, "carol": 4}, pa.int64(), 4),
    ],
)  # fmt: skip
def test_a_label_column_takes_the_projects_kind_of_label(
    alice, bob, carol, kind, values, arrow_type, expected
):
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2, label_kind=kind,
                           name=f"Kind {kind}")  # fmt: skip
    make_items(project, 6)
    label_all(project, [bob, carol], lambda item, rater: values[rater.username])

    version = build(project, alice)

    table = parquet_of(version)
    assert table.schema.field("label").type == arrow_type
    assert table.column("label").to_pylist() == [expected] * 6
    label_text = "neutral" if kind == LabelKind.MULTI else "4"
    assert version.label_counts[label_text] == 6


def test_fields_of_the_items_data_are_typed_by_their_values(project, alice, bob, carol):
    make_items(project, 4)
    data = [
        {"channel": "email", "stars": 4, "score": 0.5, "flag": True, "meta": {"b": 1, "a": [2]},
         "mixed": 1},
        {"channel": "chat", "stars": 5, "score": 2, "flag": False, "meta": None, "mixed": "x"},
        {"channel": "chat", "stars": -1, "score": 1e-05, "meta": [1]},
        {},
    ]  # fmt: skip
    for n, values in enumerate(data):
        Item.objects.filter(project=project, key=f"item-{n}").update(data=values)
    label_all(project, [bob, carol], lambda item, rater: "positive")
    fields = ["text", "channel", "stars", "score", "flag", "meta", "mixed"]

    version = build(project, alice, {"fields": fields})

    table = parquet_of(version)
    assert [(name, str(table.schema.field(name).type)) for name in fields[1:]] == [
        ("channel", "string"), ("stars", "int64"), ("score", "double"), ("flag", "bool"),
        ("meta", "string"), ("mixed", "string"),
    ]  # fmt: skip
    assert table.column("channel").to_pylist() == ["email", "chat", "chat", None]
    assert table.column("stars").to_pylist() == [4, 5, -1, None]
    assert table.column("score").to_pylist() == [0.5, 2.0, 1e-05, None]
    assert table.column("flag").to_pylist() == [True, False, None, None]
    assert table.column("meta").to_pylist() == ['{"a":[2],"b":1}', None, "[1]", None]
    assert table.column("mixed").to_pylist() == ["1", '"x"', None, None]
    assert all(row["row_hash"] == row_hash(row) for row in table.to_pylist())


def test_the_spec_chooses_the_sources_and_the_consensus_confidence(alice, bob, carol):
    dave = UserFactory(username="dave")
    project = make_project(lead=alice, raters=[bob, carol, dave], raters_per_item=3,
                           name="Three raters")  # fmt: skip
    make_items(project, 12)
    # Items 0-3: all agree (confidence 1); 4-7: two of three (2/3); 8-11: all differ (conflict).
    choices = {"bob": ["positive"] * 12, "carol": ["positive"] * 8 + ["negative"] * 4,
               "dave": ["positive"] * 4 + ["negative"] * 4 + ["neutral"] * 4}  # fmt: skip
    label_all(project, [bob, carol, dave],
              lambda item, rater: choices[rater.username][int(item.key.split("-")[1])])  # fmt: skip
    assert resolve_conflicts(project, alice, lambda item: "neutral") == 4

    everything = parquet_of(build(project, alice, {"salt": "a"}))
    confident = parquet_of(build(project, alice, {"salt": "b", "min_confidence": 0.9}))
    resolved = parquet_of(build(project, alice, {"salt": "c", "sources": ["resolution"]}))

    assert everything.num_rows == 12
    assert sorted(confident.column("item_key").to_pylist()) == sorted(
        [f"item-{n}" for n in (*range(4), *range(8, 12))]
    ), "the consensus at 2/3 is left out; resolutions have no confidence to miss"
    assert resolved.column("label_source").unique().to_pylist() == ["resolution"]
    assert resolved.num_rows == 4


# --- images --------------------------------------------------------------------------------------


def png(colour: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def photos(alice, bob, carol):
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2, name="Photos",
                           content_type=ContentType.IMAGE)  # fmt: skip
    red, blue = (
        image_store(data=png((255, 0, 0)), name="red.png"),
        image_store(data=png((0, 0, 255), (5, 9)), name="blue.png"),
    )
    for n, blob in enumerate([red, blue, red]):  # two items show one picture
        Item.objects.create(project=project, key=f"photo-{n}", image=blob, content_hash=str(n))
    label_all(project, [bob, carol], lambda item, rater: "positive")
    return project, {"red": red, "blue": blue}


def test_images_go_into_the_parquet_file_and_once_each_beside_it(photos, alice):
    project, blobs = photos
    version = build(project, alice, {"fields": ["image", "text"]})

    table = parquet_of(version)
    assert table.schema.field("image").type == pa.struct(
        [("bytes", pa.binary()), ("path", pa.string())]
    )
    images = table.column("image").to_pylist()
    expected = [blobs["red"], blobs["blue"], blobs["red"]]
    for image, blob in zip(images, expected, strict=True):
        assert image["bytes"] == stored(blob.file.name)
        assert image["path"] == f"images/{blob.sha256}.png"
    media = {f.name: f for f in version.files.filter(kind=DatasetFile.Kind.MEDIA)}
    assert set(media) == {f"images/{b.sha256}.png" for b in blobs.values()}
    for name, file in media.items():
        assert (file.sha256, file.content_type) == (name[7:71], "image/png")
        assert hashlib.sha256(stored(file.storage_name)).hexdigest() == file.sha256
    assert {e["name"] for e in version.manifest["files"]} >= set(media)
    lines = [json.loads(line) for line in stored(version.storage_prefix + "data.jsonl").split()]
    assert [line["image"] for line in lines] == [i["path"] for i in images]
    cells = list(csv.DictReader(StringIO(stored(version.storage_prefix + "data.csv").decode())))
    assert [cell["image"] for cell in cells] == [i["path"] for i in images]
    assert all(row["row_hash"] == row_hash(row, ("image",)) for row in table.to_pylist())


def test_hugging_face_datasets_reads_the_image_column_as_images(photos, alice, tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    project, _ = photos
    version = build(project, alice)
    path = tmp_path / "data.parquet"
    path.write_bytes(stored(version.storage_prefix + "data.parquet"))

    dataset = datasets.load_dataset(
        "parquet", data_files=str(path), cache_dir=str(tmp_path / "hf-cache")
    )["train"]

    assert isinstance(dataset.features["image"], datasets.Image)
    assert dataset.features["label"] == datasets.Value("string")
    pictures = [row["image"] for row in dataset]
    assert [p.size for p in pictures] == [(8, 6), (5, 9), (8, 6)]
    assert pictures[1].getpixel((0, 0)) == (0, 0, 255)


# --- versions over time --------------------------------------------------------------------------


def test_a_ready_version_never_changes(labeled, alice):
    first = build(labeled, alice)
    before = {f.name: (f.sha256, stored(f.storage_name)) for f in first.files.all()}
    manifest = first.manifest
    # Labels change: a lead resolves the conflicts left open.
    resolve_conflicts(labeled, alice, lambda item: "negative")

    second = build(labeled, alice)

    assert (second.number, second.parent_id, second.outcome) == (2, first.pk, "built")
    assert second.row_count == 40
    again = dataset_version_run(version_id=first.pk)
    first.refresh_from_db()
    assert again.pk == first.pk and first.number == 1 and first.manifest == manifest
    assert {f.name: (f.sha256, stored(f.storage_name)) for f in first.files.all()} == before
    assert second.manifest["parent"]["label"] == "v1"


def test_the_same_spec_over_the_same_labels_is_unchanged_and_keeps_nothing(labeled, alice):
    first = build(labeled, alice)
    same = build(labeled, alice)

    assert same.status == JobStatus.SUCCEEDED
    assert (same.outcome, same.parent_id, same.number) == ("unchanged", first.pk, None)
    assert same.message.startswith("Same as v1: ")
    assert not same.files.exists()
    assert stored_names(f"datasets/{labeled.pk}/{same.pk}/") == []
    assert same.content_hash == first.content_hash
    assert not same.is_ready

    other = build(labeled, alice, {"salt": "another"})
    assert (other.outcome, other.number, other.parent_id) == ("built", 2, first.pk)


def test_an_item_keeps_its_split_and_the_test_split_only_grows(project, alice, bob, carol):
    make_items(project, 120)
    label_all(project, [bob, carol], lambda item, rater: "positive")
    first = build(project, alice, {"splits": {"train": 0.7, "test": 0.3}})
    make_items(project, 60, prefix="new")
    label_all(project, [bob, carol], lambda item, rater: "negative")
    second = build(project, alice, {"splits": {"train": 0.7, "test": 0.3}})
    grown = {"train": 0.5, "validation": 0.1, "test": 0.4}
    third = build(project, alice, {"splits": grown})

    splits = [dict(zip(parquet_of(v).column("item_key").to_pylist(),
                       parquet_of(v).column("split").to_pylist(), strict=True))
              for v in (first, second, third)]  # fmt: skip
    assert len(splits[1]) == 180
    assert all(splits[1][key] == split for key, split in splits[0].items()), "same spec"
    was_test = {key for key, split in splits[1].items() if split == "test"}
    now_test = {key for key, split in splits[2].items() if split == "test"}
    assert was_test <= now_test
    unfrozen = DatasetSpec.from_json({**third.spec, "freeze_test": False})
    by_hash = dict(zip(splits[1], Splitter(unfrozen).assign(list(splits[1])), strict=True))
    for key, split in splits[1].items():
        if split != "test":
            assert splits[2][key] != "test", key
    assert any(by_hash[k] == "test" and splits[2][k] != "test" for k in splits[1]), (
        "some items the hash now sends to test stayed out of it"
    )
    assert third.manifest["parent"]["label"] == "v2"


# --- atomicity -----------------------------------------------------------------------------------


@pytest.fixture
def failing_storage(monkeypatch):
    """The storage refuses the manifest (a full disk, a bucket that went away)."""
    real = FileSystemStorage._save

    def save(self: Any, name: str, content: Any) -> str:
        if name.endswith("manifest.json"):
            raise OSError("No space left on device")
        return real(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", save)
    return monkeypatch


def test_a_failed_build_leaves_a_failed_row_and_no_file(labeled, alice, failing_storage):
    version = dataset_version_request(project=labeled, spec={}, requested_by=alice,
                                      enqueue=False)  # fmt: skip
    with pytest.raises(OSError, match="No space left"):
        dataset_version_run(version_id=version.pk)

    version.refresh_from_db()
    assert version.status == JobStatus.FAILED
    assert "No space left on device" in version.message and "retry" in version.message
    assert (version.number, version.outcome, version.storage_prefix) == (None, "", "")
    assert not version.files.exists()
    assert stored_names(f"datasets/{labeled.pk}/{version.pk}/") == []
    assert not work_directory(version).exists()

    failing_storage.undo()
    retried = dataset_version_retry(version=version, enqueue=False)
    assert retried.status == JobStatus.PENDING
    done = dataset_version_run(version_id=version.pk)
    assert (done.status, done.number, done.files.count()) == (JobStatus.SUCCEEDED, 1, 6)


def test_a_failure_while_writing_rows_keeps_nothing_either(labeled, alice, monkeypatch):
    def broken(self: Any, keys: Any, positions: Any = None) -> list[str]:
        raise RuntimeError("hash gone wrong")

    monkeypatch.setattr(Splitter, "assign", broken)
    version = dataset_version_request(project=labeled, spec={}, requested_by=alice,
                                      enqueue=False)  # fmt: skip
    with pytest.raises(RuntimeError):
        dataset_version_run(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.FAILED and "hash gone wrong" in version.message
    assert stored_names(f"datasets/{labeled.pk}/") == []


def test_a_version_that_becomes_ready_under_a_build_becomes_its_parent(labeled, alice, monkeypatch):
    """Two builds at once: the second finishes first, while the first saves its files. The
    first then builds again on it, so that its number, parent and manifest are right."""
    first = dataset_version_request(project=labeled, spec={}, requested_by=alice, enqueue=False)
    second = dataset_version_request(project=labeled, spec={"salt": "x"}, requested_by=alice,
                                     enqueue=False)  # fmt: skip
    real_save, raced = build_service._save, []

    def save(name: str, written: Any) -> None:
        if not raced:
            raced.append(second)
            raced[0] = dataset_version_run(version_id=second.pk)
        real_save(name, written)

    monkeypatch.setattr(build_service, "_save", save)
    done = dataset_version_run(version_id=first.pk)

    assert raced[0].number == 1
    assert (done.status, done.number, done.parent_id) == (JobStatus.SUCCEEDED, 2, second.pk)
    assert done.manifest["version"]["number"] == 2
    assert done.manifest["parent"]["id"] == second.pk
    assert sorted(stored_names(done.storage_prefix)) == sorted(
        f.storage_name for f in done.files.all()
    )


# --- requests, retries, the task and the command -------------------------------------------------


def test_a_request_is_built_by_the_task_once_it_commits(
    labeled, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        version = dataset_version_request(project=labeled, spec={}, requested_by=alice)
        assert version.status == JobStatus.PENDING and version.queued_at is not None
    assert len(callbacks) == 1
    version.refresh_from_db()
    assert (version.status, version.number) == (JobStatus.SUCCEEDED, 1)


def test_a_ready_version_is_announced_to_the_projects_webhooks_and_an_unchanged_one_not(
    labeled, alice, django_capture_on_commit_callbacks
):
    """A receiver on 127.0.0.1 gets the signed announcement of v1, with the checksums of its
    files; a second build of the same labels announces nothing."""
    with running_receiver() as receiver:
        webhook, receiver.secret = webhook_create(
            project=labeled, url=receiver.url, created_by=alice
        )
        with django_capture_on_commit_callbacks(execute=True):
            first = build(labeled, alice)
        with django_capture_on_commit_callbacks(execute=True):
            same = build(labeled, alice)

    assert same.outcome == "unchanged"
    assert receiver.count == 1
    call = receiver.calls[0]
    assert call.verified
    body = call.json["version"]
    assert (body["id"], body["number"], body["content_hash"]) == (
        first.pk, 1, first.content_hash,
    )  # fmt: skip
    files = {f.name: f.sha256 for f in first.files.all()}
    assert {f["name"]: f["sha256"] for f in body["files"]} == files
    assert WebhookDelivery.objects.get(webhook=webhook).status == "delivered"


def test_only_a_failed_or_stalled_build_is_retried(labeled, alice):
    version = build(labeled, alice)
    with pytest.raises(ValidationError, match="only a failed"):
        dataset_version_retry(version=version)


def test_an_archived_project_builds_nothing(labeled, alice):
    project_archive(project=labeled)
    with pytest.raises(ProjectArchived):
        dataset_version_request(project=labeled, spec={}, requested_by=alice)


def test_a_bad_spec_is_refused_before_any_row_is_made(labeled, alice):
    with pytest.raises(ValidationError) as caught:
        dataset_version_request(project=labeled, spec={"splits": {"train": 2}},
                                requested_by=alice)  # fmt: skip
    assert "splits" in caught.value.message_dict
    assert not DatasetVersion.objects.exists()


def test_the_command_builds_with_a_spec_from_its_options(labeled, alice):
    out = StringIO()
    call_command(
        "build_version", str(labeled.pk), "--split", "train=0.75", "--split", "test=0.25",
        "--source", "consensus", "--format", "csv", "--salt", "cli", "--name", "From the shell",
        "--user", "alice", stdout=out,
    )  # fmt: skip

    version = DatasetVersion.objects.get()
    assert "v1 is ready: 30 rows" in out.getvalue()
    assert version.spec["splits"] == {"train": 0.75, "test": 0.25}
    assert version.spec["formats"] == ["parquet", "csv"]
    assert (version.name, version.created_by, version.spec["salt"]) == (
        "From the shell", alice, "cli",
    )  # fmt: skip
    call_command("build_version", str(labeled.pk), "--split", "train=0.75", "--split",
                 "test=0.25", "--source", "consensus", "--format", "csv", "--salt", "cli",
                 stdout=out)  # fmt: skip
    assert "Same as v1" in out.getvalue()


def test_the_command_names_what_is_wrong(labeled):
    with pytest.raises(CommandError, match=r"splits: The ratios of splits add up to 1\.2"):
        call_command("build_version", str(labeled.pk), "--split", "train=0.6", "--split",
                     "test=0.6")  # fmt: skip
    with pytest.raises(CommandError, match="--split takes NAME=RATIO"):
        call_command("build_version", str(labeled.pk), "--split", "train")
    with pytest.raises(CommandError, match="No project with id 999"):
        call_command("build_version", "999")


def test_the_command_retries_a_failed_build(labeled, alice, failing_storage):
    with pytest.raises(OSError):
        call_command("build_version", str(labeled.pk), stdout=StringIO())
    failed = DatasetVersion.objects.get()
    assert failed.status == JobStatus.FAILED
    failing_storage.undo()
    out = StringIO()
    call_command("build_version", str(labeled.pk), "--retry", str(failed.pk), stdout=out)
    assert "v1 is ready" in out.getvalue()
    assert DatasetVersion.objects.get().number == 1


# --- the threads of a build ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_build_outside_a_transaction_reads_ahead_in_a_thread_and_gives_the_same_rows(
    monkeypatch, settings,
):  # fmt: skip
    """Outside a transaction the next batch is read by a thread with its own connection; the
    rows are the same as those read in line (inside one), batch after batch."""
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2)
    make_items(project, 30)
    label_all(project, [bob, carol], disagreeing)
    settings.ACCORD_DATASET_BATCH_ROWS = 7
    threads: list[Any] = []
    real = build_service.Prefetch

    def counted(make: Any) -> Iterator[Any]:
        threads.append(make)
        return real(make)  # type: ignore[return-value]

    monkeypatch.setattr(build_service, "Prefetch", counted)
    ahead = build(project, alice)
    with transaction.atomic():
        in_line = build(project, alice)

    assert len(threads) == 1, "only the build outside a transaction read ahead"
    assert ahead.number == 1
    assert ahead.row_count == LabelOfRecord.objects.filter(project=project).count() == 21
    assert (in_line.outcome, in_line.content_hash) == ("unchanged", ahead.content_hash)


def test_the_lineage_names_the_imports_the_rows_came_from_and_the_agreement_figures(project, alice):
    """Items imported from a file, their labels imported from a crowd's file (two workers who
    agree), the agreement recomputed: the manifest names both imports and copies the figures."""
    from django.core.files.base import ContentFile

    from agreement.services.recompute import agreement_recompute_request, agreement_recompute_run
    from labeling.imports.jobs import annotation_import_create, annotation_import_run
    from projects.services.imports import import_job_create, import_job_run

    rows = "key,text\n" + "".join(f"t{n},Ticket {n}\n" for n in range(6))
    items_job = import_job_run(job_id=import_job_create(
        project=project, uploaded_file=ContentFile(rows.encode(), name="t.csv"),
        created_by=alice, source="api", enqueue=False,
    ).pk)  # fmt: skip
    crowd = "item_key,rater,value\n" + "".join(
        f"t{n},worker-{w},positive\n" for n in range(4) for w in (1, 2)
    )
    labels_job = annotation_import_run(job_id=annotation_import_create(
        project=project, uploaded_file=ContentFile(crowd.encode(), name="crowd.csv"),
        created_by=alice, source="api", enqueue=False,
    ).pk)  # fmt: skip
    assert (items_job.status, labels_job.status) == ("succeeded", "succeeded")
    agreement_recompute_run(
        job_id=agreement_recompute_request(project=project, requested_by=alice, enqueue=False).pk
    )

    version = build(project, alice)

    lineage = version.manifest["lineage"]
    assert version.row_count == 4
    assert lineage["import_jobs"] == [items_job.pk]
    assert lineage["annotation_import_jobs"] == [labels_job.pk]
    assert lineage["label_methods"] == {"majority": 4}
    agreement = version.manifest["agreement"]
    assert agreement["items"] == 4 and agreement["annotations"] == 8
    assert agreement["rule"] == "majority" and "computed_at" in agreement


def test_a_version_is_checked_against_its_parent_in_its_manifest(labeled, alice):
    first = build(labeled, alice)
    # The lead resolves the seven conflicts left open, and changes one earlier decision.
    resolve_conflicts(labeled, alice, lambda item: "negative")
    changed = Conflict.objects.filter(project=labeled, resolutions__value_after="neutral").first()
    assert changed is not None
    conflict_reopen(conflict=changed, lead=alice)
    conflict_resolve(conflict=changed, lead=alice, value="positive")

    second = build(labeled, alice)

    assert first.validation["items"] is None and first.validation["rows"] == 33
    report = second.validation
    assert second.manifest["validation"] == report
    assert report["items"]["added"] == 7 and report["items"]["relabeled"] == 1
    assert report["items"]["removed"] == 0
    assert report["labels"]["parent"] == {"positive": 28, "negative": 2, "neutral": 3}
    assert report["labels"]["version"] == {"positive": 29, "negative": 9, "neutral": 2}
    expected = chi2_contingency([[28, 2, 3], [29, 9, 2]], correction=False)
    assert report["labels"]["chi_square"]["statistic"] == pytest.approx(expected.statistic)
    assert report["labels"]["chi_square"]["p_value"] == pytest.approx(expected.pvalue)
    # Past the default threshold of 0.1 (total variation).
    shift = (abs(29 / 40 - 28 / 33) + abs(9 / 40 - 2 / 33) + abs(2 / 40 - 3 / 33)) / 2
    assert report["labels"]["total_variation"] == pytest.approx(shift, abs=1e-6)
    assert report["labels"]["drifted"] is True
    assert any("label distribution moved" in warning for warning in report["warnings"])
