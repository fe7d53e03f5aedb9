"""Importing items: CSV, JSONL, JSON arrays and ZIPs of images, keys, gold answers, rejection of
bad files as a whole, images stored once, the CLI, and the run on a real Celery worker.

alice leads the project and imports; bob rates in it; mallory leads another project.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from PIL import Image

from core.jobs.models import JobStatus
from projects.models import ContentType, ImageBlob, ImportJob, Item, LabelKind, Project
from projects.services.images import ImageRejected, image_store
from projects.services.imports import (
    import_job_create,
    import_job_retry,
    import_job_run,
    shuffle_key_for,
)
from tests.conftest import wait_for
from tests.factories import make_project

DIGITS = [
    {"value": str(digit), "display_name": str(digit), "hotkey": str(digit)} for digit in range(10)
]


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Stored uploads and images go to a fresh directory for each test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def image_project(alice: Any, bob: Any) -> Project:
    return make_project(
        lead=alice, raters=[bob], name="Digits", content_type=ContentType.IMAGE, labels=DIGITS
    )


def upload(name: str, content: bytes | str) -> ContentFile[bytes]:
    data = content.encode() if isinstance(content, str) else content
    return ContentFile(data, name=name)


def run_import(
    project: Project, user: Any, name: str, content: bytes | str, **options: Any
) -> ImportJob:
    """Create the job as an upload would, and run it here, as the task would."""
    job = import_job_create(
        project=project, uploaded_file=upload(name, content), created_by=user, source="api",
        enqueue=False, **options,
    )  # fmt: skip
    return import_job_run(job_id=job.pk)


def error_texts(job: ImportJob) -> list[str]:
    return [error["text"] for error in job.errors]


def png(
    color: tuple[int, ...] = (200, 30, 30), size: tuple[int, int] = (40, 30), mode: str = "RGB"
) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(color: tuple[int, int, int] = (10, 120, 200), size: tuple[int, int] = (600, 400)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_zip(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# --- text formats ------------------------------------------------------------------------------

TICKETS_CSV = (
    "key,text,gold,priority,channel\n"
    "t-1,My invoice is wrong,negative,2.5,email\n"
    't-2,"Thanks, the fix works",positive,,chat\n'
    "t-3,Where is the export button?,,,email\n"
)


def test_csv_import_creates_items_with_key_text_gold_priority_and_data(project, alice):
    job = run_import(project, alice, "tickets.csv", TICKETS_CSV)

    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert (job.created_count, job.duplicate_count, job.total, job.progress) == (3, 0, 3, 3)
    assert job.attempts == 1 and job.phase == "done" and job.format == "csv"
    assert job.message == "Imported 3 new items."
    items = {item.key: item for item in Item.objects.filter(project=project)}
    assert list(items) == ["t-1", "t-2", "t-3"]
    first = items["t-1"]
    assert first.text == "My invoice is wrong"
    assert first.data == {"channel": "email"}
    assert (first.is_gold, first.gold_value, first.priority) == (True, "negative", 2.5)
    assert first.content_hash == sha("My invoice is wrong")
    assert first.shuffle_key == shuffle_key_for("t-1")
    assert 0 <= first.shuffle_key < 2**31
    assert first.import_job_id == job.pk
    assert items["t-2"].text == "Thanks, the fix works"
    assert (items["t-3"].is_gold, items["t-3"].gold_value, items["t-3"].priority) == (
        False,
        None,
        0.0,
    )


def test_reimporting_the_same_file_creates_nothing(project, alice):
    run_import(project, alice, "tickets.csv", TICKETS_CSV)
    again = run_import(project, alice, "tickets.csv", TICKETS_CSV)

    assert again.status == JobStatus.SUCCEEDED
    assert (again.created_count, again.duplicate_count) == (0, 3)
    assert again.message == "Imported 0 new items; 3 already in the project."
    assert Item.objects.filter(project=project).count() == 3


def test_a_file_overlapping_earlier_items_adds_only_the_new_ones(project, alice):
    run_import(project, alice, "tickets.csv", TICKETS_CSV)
    more = TICKETS_CSV + "t-4,Can I pay by card?,,,phone\n"

    job = run_import(project, alice, "more.csv", more)

    assert (job.created_count, job.duplicate_count) == (1, 3)
    assert Item.objects.get(project=project, key="t-4").import_job_id == job.pk
    # Untouched: the earlier import's items keep their job.
    assert Item.objects.get(project=project, key="t-1").import_job_id != job.pk


def test_without_a_key_the_key_is_derived_from_the_text_and_stable(project, alice):
    csv_text = "text\nFirst message\nSecond message\n"
    job = run_import(project, alice, "plain.csv", csv_text)

    keys = set(Item.objects.filter(project=project).values_list("key", flat=True))
    assert keys == {f"sha256:{sha('First message')[:16]}", f"sha256:{sha('Second message')[:16]}"}
    assert job.created_count == 2
    assert run_import(project, alice, "plain-again.csv", csv_text).created_count == 0


def test_same_key_in_another_project_is_another_item(project, alice, mallory):
    other = Project.objects.get(name="Mallory's own project")
    run_import(project, alice, "tickets.csv", TICKETS_CSV)

    job = run_import(other, mallory, "tickets.csv", TICKETS_CSV)

    assert job.created_count == 3
    assert Item.objects.filter(key="t-1").count() == 2


def test_csv_header_names_are_matched_ignoring_case_and_spaces_and_semicolons_work(project, alice):
    job = run_import(
        project, alice, "excel.csv", "\ufeff Key ;TEXT;Gold;Region\nr1;Good;positive;EU\n"
    )

    assert job.status == JobStatus.SUCCEEDED, error_texts(job)
    item = Item.objects.get(project=project)
    assert (item.key, item.text, item.gold_value, item.data) == (
        "r1",
        "Good",
        "positive",
        {"Region": "EU"},
    )


def test_jsonl_import_keeps_typed_fields_in_data(project, alice):
    lines = [
        {"key": "a", "text": "Great", "gold": "positive", "meta": {"source": "app", "stars": 5}},
        {"key": 17, "text": "Awful", "priority": 3},
        {"text": "Derived key"},
    ]
    content = "\n".join(json.dumps(line) for line in lines) + "\n\n"

    job = run_import(project, alice, "feedback.jsonl", content)

    assert job.status == JobStatus.SUCCEEDED, error_texts(job)
    items = {item.key: item for item in Item.objects.filter(project=project)}
    assert items["a"].data == {"meta": {"source": "app", "stars": 5}}
    assert items["17"].priority == 3.0
    assert f"sha256:{sha('Derived key')[:16]}" in items


def test_other_columns_keep_their_text_exactly(project, alice):
    tricky = 'He said "hi",\nthen left\\ — café\t☕'
    rows = io.StringIO()
    csv.writer(rows).writerows([["key", "text", "note", "empty"], ["k", "Hello", tricky, ""]])

    run_import(project, alice, "tricky.csv", rows.getvalue())

    assert Item.objects.get(project=project).data == {"note": tricky, "empty": ""}


def test_json_array_import(project, alice):
    content = json.dumps([{"key": "x", "text": "One"}, {"key": "y", "text": "Two", "gold": None}])

    job = run_import(project, alice, "items.json", content)

    assert job.status == JobStatus.SUCCEEDED and job.format == "json"
    assert set(Item.objects.filter(project=project).values_list("key", flat=True)) == {"x", "y"}


def test_json_lines_saved_as_json_is_read_as_json_lines(project, alice):
    job = run_import(project, alice, "items.json", '{"text": "One"}\n{"text": "Two"}\n')

    assert job.status == JobStatus.SUCCEEDED and job.format == "jsonl"
    assert job.created_count == 2


def test_multi_label_gold_from_csv_and_jsonl(alice):
    project = make_project(lead=alice, name="Topics", label_kind=LabelKind.MULTI)
    run_import(project, alice, "topics.csv", "key,text,gold\nc1,Price and speed,negative|neutral\n")
    run_import(project, alice, "topics.jsonl", '{"key": "j1", "text": "x", "gold": ["positive"]}\n')

    gold = dict(Item.objects.filter(project=project).values_list("key", "gold_value"))
    assert gold == {"c1": ["negative", "neutral"], "j1": ["positive"]}


def test_rating_gold_must_be_a_whole_number_within_the_scale(alice):
    project = make_project(lead=alice, name="Quality", label_kind=LabelKind.RATING)
    good = run_import(project, alice, "ok.csv", "key,text,gold\nq1,Fine,4\nq2,Meh,2.0\n")
    assert dict(Item.objects.filter(project=project).values_list("key", "gold_value")) == {
        "q1": 4,
        "q2": 2,
    }
    assert good.status == JobStatus.SUCCEEDED

    bad = run_import(project, alice, "bad.csv", "key,text,gold\nq3,Great,7\nq4,Odd,three\n")

    assert bad.status == JobStatus.FAILED
    assert bad.error_count == 2
    assert [(e["location"], e["field"], e["value"]) for e in bad.errors] == [
        ("line 2", "gold", "7"),
        ("line 3", "gold", "three"),
    ]
    assert "outside the scale 1..5" in bad.errors[0]["message"]


# --- bad files are rejected whole --------------------------------------------------------------


def test_a_bad_file_is_rejected_whole_with_errors_naming_line_field_and_value(project, alice):
    content = (
        "key,text,gold,priority\n"
        "ok-1,Fine,positive,\n"
        "ok-2,Also fine,,\n"
        "bad-1,Wrong label,great,\n"
        "bad-2,,negative,\n"
        "bad-3,Not a number,,soon\n"
    )

    job = run_import(project, alice, "mixed.csv", content)

    assert job.status == JobStatus.FAILED and job.phase == "rejected"
    assert Item.objects.filter(project=project).count() == 0
    assert job.created_count == 0 and job.error_count == 3
    assert [(e["location"], e["field"], e["value"]) for e in job.errors] == [
        ("line 4", "gold", "great"),
        ("line 5", "text", None),
        ("line 6", "priority", "soon"),
    ]
    assert "not a label of this project" in job.errors[0]["message"]
    assert error_texts(job)[0].startswith("line 4, field 'gold', value 'great': ")
    assert job.message == (
        "The file was rejected: 3 problems. Nothing was imported; fix the file and import it again."
    )


def test_a_bad_last_row_of_five_thousand_keeps_nothing(project, alice):
    rows = [f"k{n},Message number {n},positive" for n in range(4_999)]
    rows.append("k-last,The last one,maybe")
    content = "key,text,gold\n" + "\n".join(rows) + "\n"

    job = run_import(project, alice, "big.csv", content)

    assert job.status == JobStatus.FAILED
    assert job.error_count == 1
    assert (job.errors[0]["location"], job.errors[0]["value"]) == ("line 5001", "maybe")
    assert Item.objects.filter(project=project).count() == 0


def test_errors_are_capped_with_a_count_of_the_rest(project, alice):
    content = "text,gold\n" + "".join(f"Item {n},nope\n" for n in range(120))

    job = run_import(project, alice, "many.csv", content)

    assert job.error_count == 120
    assert len(job.errors) == 50
    assert job.errors[-1]["location"] == "line 51"
    assert "120 problems (the first 50 are listed)" in job.message


def test_duplicate_keys_in_one_file_are_an_error(project, alice):
    content = "key,text\nk1,One\nk2,Two\nk1,Three\n"

    job = run_import(project, alice, "dupes.csv", content)

    assert job.status == JobStatus.FAILED
    assert error_texts(job) == [
        "line 4, field 'key', value 'k1': is used twice in the file (first at line 2)."
    ]


def test_the_same_text_twice_without_keys_is_an_error_that_says_how_to_fix_it(project, alice):
    job = run_import(project, alice, "same.csv", "text\nHello\nBye\nHello\n")

    assert job.status == JobStatus.FAILED
    assert job.errors[0]["location"] == "line 4"
    assert "the same text as line 2" in job.errors[0]["message"]
    assert "give each row a `key`" in job.errors[0]["message"]


def test_line_numbers_count_rows_as_a_spreadsheet_does(project, alice):
    content = 'key,text,gold\na,"two\nlines",positive\nb,Fine,wrong\n'

    job = run_import(project, alice, "multiline.csv", content)

    assert job.errors[0]["location"] == "line 3"


def test_text_column_is_required_in_a_text_project(project, alice):
    job = run_import(project, alice, "notext.csv", "key,body\n1,Hello\n")

    assert job.status == JobStatus.FAILED
    assert error_texts(job) == ["line 1: the header has no text column (it has: key, body)."]


def test_a_row_with_more_values_than_columns_is_an_error(project, alice):
    job = run_import(project, alice, "wide.csv", "key,text\n1,Hello,extra\n")

    assert error_texts(job) == [
        "line 2, value '[\"extra\"]': 3 values, but the header names 2 columns."
    ]


def test_a_file_that_is_not_utf8_names_the_line(project, alice):
    content = "key,text\n1,Fine\n2,Caf\xe9 au lait\n".encode("latin-1")

    job = run_import(project, alice, "latin1.csv", content)

    assert job.status == JobStatus.FAILED
    assert error_texts(job) == [
        "line 3: not UTF-8 text (byte 0xe9 at column 6): save the file as UTF-8."
    ]


def test_utf16_is_rejected_with_a_hint(project, alice):
    job = run_import(project, alice, "utf16.csv", "key,text\n1,Hi\n".encode("utf-16"))

    assert error_texts(job) == ["file: The file is UTF-16 text: save it as UTF-8."]


def test_bad_json_names_line_and_column(project, alice):
    array = run_import(project, alice, "broken.json", '[\n {"text": "a"},\n {"text": }\n]')
    lines = run_import(project, alice, "broken.jsonl", '{"text": "a"}\n{"text": "b"\n[1, 2]\n')

    assert array.status == JobStatus.FAILED
    assert error_texts(array) == ["line 3 column 11: not valid JSON: Expecting value."]
    assert [(e["location"], e["message"]) for e in lines.errors] == [
        ("line 2", "not valid JSON: Expecting ',' delimiter (column 13)."),
        ("line 3", "expected a JSON object, found an array."),
    ]
    assert Item.objects.filter(project=project).count() == 0


def test_json_array_errors_name_the_index(project, alice):
    content = json.dumps([{"text": "fine"}, "not an object", {"text": 42}])

    job = run_import(project, alice, "items.json", content)

    assert [(e["location"], e["field"]) for e in job.errors] == [
        ("index 1", None),
        ("index 2", "text"),
    ]


def test_a_file_without_rows_is_rejected(project, alice):
    job = run_import(project, alice, "header-only.csv", "key,text\n")

    assert job.status == JobStatus.FAILED
    assert error_texts(job) == ["file: The file holds no items."]


def test_an_empty_upload_or_a_wrong_content_type_creates_no_job(project, alice, image_project):
    with pytest.raises(ValidationError, match="empty"):
        import_job_create(
            project=project, uploaded_file=upload("empty.csv", b""), created_by=alice, source="ui"
        )
    with pytest.raises(ValidationError, match="This project labels text"):
        import_job_create(
            project=project, uploaded_file=upload("pics.zip", make_zip({"a.png": png()})),
            created_by=alice, source="ui",
        )  # fmt: skip
    with pytest.raises(ValidationError, match="This project labels images"):
        import_job_create(
            project=image_project, uploaded_file=upload("t.csv", TICKETS_CSV), created_by=alice,
            source="ui",
        )  # fmt: skip
    assert ImportJob.objects.count() == 0


def test_an_upload_over_the_size_limit_is_refused(project, alice, settings):
    settings.ACCORD_IMPORT_MAX_BYTES = 50

    with pytest.raises(ValidationError, match="the limit is"):
        import_job_create(
            project=project, uploaded_file=upload("t.csv", TICKETS_CSV), created_by=alice,
            source="ui",
        )  # fmt: skip


# --- progress, retries, idempotent runs -------------------------------------------------------


def test_progress_is_reported_to_the_row_and_the_callback(project, alice):
    content = "text\n" + "".join(f"Message {n}\n" for n in range(2_500))
    job = import_job_create(
        project=project, uploaded_file=upload("p.csv", content), created_by=alice, source="cli",
        enqueue=False,
    )  # fmt: skip
    calls: list[tuple[int, int | None]] = []

    job = import_job_run(job_id=job.pk, progress=lambda done, total: calls.append((done, total)))

    assert calls[0] == (0, 2_500)
    # Each phase (reading; on SQLite saving in batches too) counts up to the rows it went through.
    phases: list[list[int]] = []
    for done, total in calls:
        if not phases or done < phases[-1][-1]:
            phases.append([])
        phases[-1].append(done)
        assert total == 2_500
    assert all(phase == sorted(phase) and phase[-1] == 2_500 for phase in phases)
    assert len(phases) == (1 if connection.vendor == "postgresql" else 2)
    assert (job.progress, job.total, job.phase) == (2_500, 2_500, "done")


def test_a_succeeded_job_is_not_run_again(project, alice):
    job = run_import(project, alice, "tickets.csv", TICKETS_CSV)

    again = import_job_run(job_id=job.pk)

    assert again.status == JobStatus.SUCCEEDED
    assert (again.attempts, again.created_count, again.duplicate_count) == (1, 3, 0)
    assert Item.objects.filter(project=project).count() == 3


def test_a_job_interrupted_by_a_storage_failure_is_retried_safely(project, alice):
    job = import_job_create(
        project=project, uploaded_file=upload("t.csv", TICKETS_CSV), created_by=alice,
        source="ui", enqueue=False,
    )  # fmt: skip
    stored = default_storage.open(job.file.name).read()
    default_storage.delete(job.file.name)  # the storage loses the file mid-flight

    with pytest.raises(FileNotFoundError):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.phase == "failed"
    assert "unexpected error" in job.message
    assert Item.objects.filter(project=project).count() == 0

    default_storage.save(job.file.name, ContentFile(stored))  # the storage is back
    retried = import_job_retry(job=job)
    assert retried.status == JobStatus.PENDING
    done = import_job_run(job_id=job.pk)  # what the queued task does

    assert done.status == JobStatus.SUCCEEDED
    assert (done.attempts, done.created_count) == (2, 3)


def test_retry_queues_the_task_after_commit(project, alice, django_capture_on_commit_callbacks):
    job = run_import(project, alice, "bad.csv", "key,text\n1,\n")
    assert job.status == JobStatus.FAILED

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        import_job_retry(job=job)

    assert len(callbacks) == 1


def test_only_a_failed_or_stalled_job_can_be_retried(project, alice):
    job = run_import(project, alice, "tickets.csv", TICKETS_CSV)
    with pytest.raises(ValidationError, match="is succeeded"):
        import_job_retry(job=job)

    fresh = import_job_create(
        project=project, uploaded_file=upload("t.csv", TICKETS_CSV), created_by=alice,
        source="ui", enqueue=False,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="is pending"):
        import_job_retry(job=fresh)


def test_create_enqueues_the_run_on_commit(project, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = import_job_create(
            project=project, uploaded_file=upload("t.csv", TICKETS_CSV), created_by=alice,
            source="ui",
        )  # fmt: skip

    assert len(callbacks) == 1
    assert job.status == JobStatus.PENDING
    assert job.original_name == "t.csv" and job.created_by == alice
    assert default_storage.exists(job.file.name)


# --- images ------------------------------------------------------------------------------------


def test_image_store_keeps_the_bytes_once_with_a_thumbnail(db):
    data = jpeg(size=(600, 400))

    blob = image_store(data=data, name="photo.jpg")
    again = image_store(data=data, name="copy-of-photo.jpg")

    assert again.pk == blob.pk and ImageBlob.objects.count() == 1
    digest = sha(data)
    assert blob.sha256 == digest
    assert blob.file.name == f"images/{digest[:2]}/{digest[2:4]}/{digest}.jpg"
    assert (blob.format, blob.width, blob.height, blob.size_bytes) == ("JPEG", 600, 400, len(data))
    assert default_storage.open(blob.file.name).read() == data
    with Image.open(default_storage.open(blob.thumbnail.name)) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert thumbnail.size == (256, 171)


def test_a_transparent_image_gets_a_png_thumbnail(db):
    blob = image_store(data=png((0, 0, 0, 0), size=(512, 512), mode="RGBA"), name="clear.png")

    with Image.open(default_storage.open(blob.thumbnail.name)) as thumbnail:
        assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("PNG", "RGBA", (256, 256))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "the file is empty"),
        (b"just some text, not a picture", "not an image Accord accepts"),
        (png()[:-30], "damaged or truncated"),
    ],
    ids=["empty", "not-an-image", "truncated"],
)
def test_image_store_rejects_what_is_not_a_whole_image(db, data: bytes, problem: str):
    with pytest.raises(ImageRejected, match=problem) as raised:
        image_store(data=data, name="upload.png")

    assert raised.value.name == "upload.png"
    assert ImageBlob.objects.count() == 0


def test_a_truncated_jpeg_is_rejected(db):
    with pytest.raises(ImageRejected, match="damaged or truncated"):
        image_store(data=jpeg()[:400], name="cut.jpg")


def test_image_limits_on_size_sides_and_pixels(db, settings):
    settings.ACCORD_IMAGE_MAX_BYTES = 100
    with pytest.raises(ImageRejected, match=r"the limit is 0\.0 MB"):
        image_store(data=jpeg(), name="big.jpg")
    settings.ACCORD_IMAGE_MAX_BYTES = 10_000_000

    settings.ACCORD_IMAGE_MAX_SIDE = 300
    with pytest.raises(ImageRejected, match="no side may be longer than 300 pixels"):
        image_store(data=png(size=(301, 10)), name="wide.png")

    settings.ACCORD_IMAGE_MAX_PIXELS = 10_000
    with pytest.raises(ImageRejected, match="decompression bombs") as raised:
        image_store(data=png(size=(200, 200)), name="bomb.png")
    assert str(raised.value).startswith("bomb.png: 200x200 = 40,000 pixels, over the limit")
    assert ImageBlob.objects.count() == 0


def png_header_only(width: int, height: int) -> bytes:
    """A PNG's signature and header claiming width x height, with no pixels: what a
    decompression bomb looks like to whoever reads its size."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + end


def test_an_image_past_pillows_own_guard_is_refused_in_accords_words(db, settings):
    """15,000 x 15,000 is over twice Pillow's limit: Pillow refuses it on opening, before
    Accord reads the size. The message is Accord's, with Accord's limit."""
    settings.ACCORD_IMAGE_MAX_SIDE = 20_000
    with pytest.raises(ImageRejected) as raised:
        image_store(data=png_header_only(15_000, 15_000), name="bomb.png")
    message = str(raised.value)
    assert message == (
        f"bomb.png: more pixels than the limit of {settings.ACCORD_IMAGE_MAX_PIXELS:,} (a guard "
        "against decompression bombs)."
    )
    assert "DOS" not in message and "could be" not in message


def test_a_format_outside_the_allowed_list_is_rejected(db):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, format="PCX")

    with pytest.raises(ImageRejected, match="allowed formats: PNG, JPEG, GIF, WEBP, BMP, TIFF"):
        image_store(data=buffer.getvalue(), name="old.pcx")


# --- ZIPs of images ----------------------------------------------------------------------------


def test_zip_without_manifest_makes_an_item_of_every_image(image_project, alice):
    red, blue = png((255, 0, 0)), png((0, 0, 255))
    content = make_zip({"cats/red.png": red, "cats/blue.png": blue, "notes.txt": "hello"})

    job = run_import(image_project, alice, "cats.zip", content)

    assert job.status == JobStatus.SUCCEEDED, error_texts(job)
    assert job.created_count == 2
    assert "Ignored (not items): notes.txt." in job.message
    items = {item.key: item for item in Item.objects.filter(project=image_project)}
    red_item = items[f"sha256:{sha(red)[:16]}"]
    assert red_item.image.sha256 == sha(red) == red_item.content_hash
    assert red_item.data == {"file": "cats/red.png"}
    assert red_item.text == ""


def test_zip_with_a_manifest_maps_files_to_keys_gold_and_data(image_project, alice):
    seven = png((7, 7, 7))
    manifest = (
        "file,key,gold,scanner\n"
        "scans/a.png,digit-1,7,s1\n"
        "scans/b.png,digit-2,,s2\n"
        "scans/a-copy.png,digit-3,,s1\n"
    )
    content = make_zip(
        {
            "batch/manifest.csv": manifest,
            "batch/scans/a.png": seven,
            "batch/scans/b.png": png((1, 2, 3)),
            "batch/scans/a-copy.png": seven,  # the same bytes under another name
            "batch/scans/unused.png": png((9, 9, 9)),
        }
    )

    job = run_import(image_project, alice, "batch.zip", content)

    assert job.status == JobStatus.SUCCEEDED, error_texts(job)
    assert job.created_count == 3
    items = {item.key: item for item in Item.objects.filter(project=image_project)}
    assert (items["digit-1"].gold_value, items["digit-1"].is_gold) == ("7", True)
    assert items["digit-1"].data == {"file": "scans/a.png", "scanner": "s1"}
    assert items["digit-1"].image_id == items["digit-3"].image_id  # stored once
    assert ImageBlob.objects.count() == 2
    assert "scans/unused.png" not in json.dumps(list(Item.objects.values_list("data", flat=True)))
    assert "batch/scans/unused.png" in job.message


def test_zip_with_a_jsonl_manifest_naming_images_by_image(image_project, alice):
    manifest = json.dumps({"image": "one.png", "key": "one", "gold": "1", "note": "faint"})

    job = run_import(
        image_project, alice, "one.zip", make_zip({"manifest.jsonl": manifest, "one.png": png()})
    )

    item = Item.objects.get(project=image_project)
    assert job.status == JobStatus.SUCCEEDED
    assert (item.key, item.gold_value, item.data) == (
        "one",
        "1",
        {"file": "one.png", "note": "faint"},
    )


def test_a_zip_with_a_bad_image_keeps_nothing_and_stores_no_image(image_project, alice):
    content = make_zip(
        {
            "manifest.csv": "file,key,gold\ngood.png,g,1\ncut.png,c,2\nmissing.png,m,3\n"
            "good.png,g2,eleven\n",
            "good.png": png(),
            "cut.png": png()[:-40],
        }
    )

    job = run_import(image_project, alice, "bad.zip", content)

    assert job.status == JobStatus.FAILED
    assert [(e["location"], e["field"], e["value"]) for e in job.errors] == [
        ("manifest.csv line 3", "file", "cut.png"),
        ("manifest.csv line 4", "file", "missing.png"),
        ("manifest.csv line 5", "gold", "eleven"),
    ]
    assert "damaged or truncated" in job.errors[0]["message"]
    assert job.errors[1]["message"] == "no such file in the ZIP."
    assert Item.objects.count() == 0
    assert ImageBlob.objects.count() == 0


def test_zip_errors_without_manifest_name_the_member(image_project, alice, settings):
    settings.ACCORD_IMAGE_MAX_PIXELS = 1_000
    content = make_zip({"small.png": png(size=(10, 10)), "huge.png": png(size=(100, 100))})

    job = run_import(image_project, alice, "pics.zip", content)

    assert job.status == JobStatus.FAILED
    assert [(e["location"], e["field"]) for e in job.errors] == [("huge.png", "file")]
    assert "over the limit of 1,000" in job.errors[0]["message"]


def test_reimporting_a_zip_creates_nothing(image_project, alice):
    content = make_zip({"a.png": png((1, 1, 1)), "b.png": png((2, 2, 2))})
    run_import(image_project, alice, "pics.zip", content)

    again = run_import(image_project, alice, "pics.zip", content)

    assert (again.created_count, again.duplicate_count) == (0, 2)
    assert ImageBlob.objects.count() == 2


def test_zip_entries_that_leave_the_folder_are_named_and_refused(image_project, alice):
    content = make_zip(
        {"ok.png": png((1, 1, 1)), "../evil.png": png((2, 2, 2)), "/etc/x.png": png((3, 3, 3)),
         "a/../../b.png": png((4, 4, 4))}
    )  # fmt: skip

    job = run_import(image_project, alice, "sneaky.zip", content)

    assert job.status == JobStatus.FAILED
    assert not Item.objects.filter(project=image_project).exists()
    message = job.errors[0]["message"]
    assert job.errors[0]["location"] == "file"
    assert all(name in message for name in ("../evil.png", "/etc/x.png", "a/../../b.png"))
    assert "ok.png" not in message


def test_a_file_that_is_not_a_zip_is_rejected(image_project, alice):
    job = run_import(image_project, alice, "photos.zip", b"PK\x03\x04 but not really")

    assert job.status == JobStatus.FAILED
    assert job.errors[0]["location"] == "file"
    assert "not a readable ZIP file" in job.errors[0]["message"]


# --- the command line --------------------------------------------------------------------------


def test_import_items_command_imports_and_reports(project, alice, tmp_path: Path):
    path = tmp_path / "tickets.csv"
    path.write_text(TICKETS_CSV)
    out = io.StringIO()

    call_command("import_items", str(project.pk), str(path), "--user", "alice", stdout=out)
    call_command("import_items", str(project.pk), str(path), stdout=out)

    assert "created=3 duplicates=0" in out.getvalue()
    assert "created=0 duplicates=3" in out.getvalue()
    jobs = list(ImportJob.objects.filter(project=project).order_by("id"))
    assert [(job.source, job.created_by) for job in jobs] == [("cli", alice), ("cli", None)]


def test_import_items_command_fails_with_the_errors(project, alice, tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("key,text,gold\n1,Hi,great\n")
    err = io.StringIO()

    with pytest.raises(CommandError, match="The file was rejected: 1 problem"):
        call_command("import_items", str(project.pk), str(path), stderr=err, stdout=io.StringIO())

    assert "line 2, field 'gold', value 'great'" in err.getvalue()
    assert Item.objects.count() == 0


def test_import_items_command_refuses_a_user_who_does_not_lead(project, bob, tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text(TICKETS_CSV)

    with pytest.raises(CommandError, match="bob does not lead Sentiment"):
        call_command("import_items", str(project.pk), str(path), "--user", "bob")


# --- the background worker ---------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_the_worker(
    transactional_db: None, celery_worker_process: str, alice: Any, bob: Any, settings: Any
) -> None:
    """A real worker runs the import: through Redis, or through files on the embedded
    default; the request that created the job only stored the upload."""
    from django.conf import settings as live

    # The worker process reads uploads from the test settings' media root, not tmp_path.
    settings.MEDIA_ROOT = Path(live.VAR_DIR) / "test-media"
    project = make_project(lead=alice, raters=[bob], name="Worker")
    content = "key,text\n" + "".join(f"w{n},Worker message {n}\n" for n in range(300))

    with transaction.atomic():
        job = import_job_create(
            project=project, uploaded_file=upload("worker.csv", content), created_by=alice,
            source="ui",
        )  # fmt: skip
        assert job.status == JobStatus.PENDING

    def finished() -> ImportJob | None:
        row = ImportJob.objects.get(pk=job.pk)
        return row if row.is_finished else None

    done: ImportJob = wait_for(finished, timeout=60)
    assert done.status == JobStatus.SUCCEEDED, done.message
    assert done.created_count == 300
    assert Item.objects.filter(project=project).count() == 300
    default_storage.delete(done.file.name)
