"""Dataset versions and images with the default storage in S3: django-storages' S3Storage, set up
by config.settings.base.s3_storage from the ACCORD_S3_* variables, against moto's S3 server on
127.0.0.1 (a real HTTP server speaking the S3 API, in a thread of this process).

What is checked: a build puts every file into the bucket with the manifest's sizes and sha256;
a second version reads its parent's Parquet file from S3 for its frozen test split and its
validation; downloads through the API stream from S3 with ETag, 304, Range (206, from one ranged
GET) and HEAD; an image project's version reads its images from S3; a failed build leaves no
object under its prefix; and the settings pick S3 when ACCORD_S3_BUCKET is set.

alice leads; bob and carol rate (two raters per item)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from config.settings.base import BASE_DIR, s3_storage
from core.jobs.models import JobStatus
from core.storage import storage_open_random, storage_path, storage_stream
from exports.models import DatasetFile
from exports.services.build import (
    dataset_version_request,
    dataset_version_retry,
    dataset_version_run,
)
from projects.models import ContentType, Item, TokenScope
from projects.services.images import image_store
from projects.services.imports import import_job_create, import_job_run
from projects.services.tokens import project_token_create
from tests.api_clients import secret_client, session_client
from tests.exports.conftest import build, label_all, resolve_conflicts
from tests.exports.test_build import png
from tests.factories import make_items, make_project

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
S3Storage = pytest.importorskip("storages.backends.s3").S3Storage

pytestmark = pytest.mark.django_db

KEY_ID, SECRET = "accord-test", "accord-test-secret"
PREFIX = "accord-media"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1, for this module's tests."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket, made the default storage for the test as the settings make it from the
    environment (Django resets default_storage when STORAGES changes: django.test.signals)."""
    name = f"accord-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
    )  # fmt: skip
    client.create_bucket(Bucket=name)
    for variable, value in {
        "ACCORD_S3_ENDPOINT_URL": s3_endpoint, "ACCORD_S3_REGION": "us-east-1",
        "ACCORD_S3_ACCESS_KEY_ID": KEY_ID, "ACCORD_S3_SECRET_ACCESS_KEY": SECRET,
        "ACCORD_S3_PREFIX": f"/{PREFIX}/", "ACCORD_S3_ADDRESSING_STYLE": "path",
    }.items():  # fmt: skip
        monkeypatch.setenv(variable, value)
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(name)}
    assert isinstance(default_storage, S3Storage)
    assert storage_path(default_storage, "datasets/") is None, "no local path on S3"
    return name


def objects(bucket: str, prefix: str) -> dict[str, bytes]:
    """The bucket's objects under PREFIX/prefix, by name under PREFIX, read with boto3."""
    client = boto3.client(
        "s3", endpoint_url=os.environ["ACCORD_S3_ENDPOINT_URL"], region_name="us-east-1",
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
    )  # fmt: skip
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{PREFIX}/{prefix}"
    ):
        for entry in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
            assert entry["Size"] == len(body)
            found[entry["Key"].removeprefix(f"{PREFIX}/")] = body
    return found


def positive(item: Item, rater: Any) -> str:
    return "negative" if int(item.key.rsplit("-", 1)[1]) % 4 == 0 else "positive"


def test_a_version_built_on_s3_and_its_child_with_a_frozen_test_split(
    bucket, project, alice, bob, carol
):
    make_items(project, 30)
    label_all(project, [bob, carol], positive)
    assert resolve_conflicts(project, alice, lambda item: "neutral") == 0
    v1 = build(project, alice, {"splits": {"train": 0.6, "test": 0.4}})
    assert v1.status == JobStatus.SUCCEEDED, v1.message

    stored = objects(bucket, v1.storage_prefix)
    files = {f.storage_name: f for f in v1.files.all()}
    assert set(stored) == set(files) == {
        f"datasets/{project.pk}/{v1.pk}/{name}"
        for name in ("data.parquet", "data.jsonl", "data.csv", "README.md", "croissant.json",
                     "manifest.json")
    }  # fmt: skip
    manifest = json.loads(stored[v1.storage_prefix + "manifest.json"])
    assert manifest == v1.manifest
    for entry in manifest["files"]:
        data = stored[v1.storage_prefix + entry["name"]]
        assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    for name, file in files.items():
        assert (file.size, file.sha256) == (
            len(stored[name]),
            hashlib.sha256(stored[name]).hexdigest(),
        )
    v1_table = pq.read_table(io.BytesIO(stored[v1.storage_prefix + "data.parquet"]))
    v1_test = {
        key for key, split in zip(v1_table.column("item_key").to_pylist(),
                                  v1_table.column("split").to_pylist(), strict=True)
        if split == "test"
    }  # fmt: skip
    assert 0 < len(v1_test) < 30

    # More items, and a test split that grows: v2 reads v1's Parquet from S3 for its frozen test
    # split and for its validation report.
    make_items(project, 20, prefix="more")
    label_all(project, [bob, carol], lambda item, rater: "negative")
    v2 = build(project, alice, {"splits": {"train": 0.3, "test": 0.7}})
    assert v2.status == JobStatus.SUCCEEDED, v2.message
    assert (v2.number, v2.parent_id) == (2, v1.pk)
    v2_table = pq.read_table(
        io.BytesIO(objects(bucket, v2.storage_prefix)[v2.storage_prefix + "data.parquet"])
    )
    v2_splits = dict(
        zip(v2_table.column("item_key").to_pylist(), v2_table.column("split").to_pylist(),
            strict=True)
    )  # fmt: skip
    assert all(v2_splits[key] == "test" for key in v1_test), "the test split only grows"
    added = v2.validation["items"]["added"]
    assert added == 20 and v2.validation["items"]["removed"] == 0, v2.validation
    assert v2.manifest["validation"] == v2.validation
    assert v2.manifest["parent"]["label"] == "v1"


def test_downloads_stream_from_s3_with_etag_304_range_and_head(bucket, project, alice, bob, carol):
    make_items(project, 12)
    label_all(project, [bob, carol], positive)
    version = build(project, alice)
    parquet = DatasetFile.objects.get(version=version, name="data.parquet")
    whole = objects(bucket, version.storage_prefix)[parquet.storage_name]
    token = project_token_create(
        project=project, created_by=alice, name="nightly", scopes=(TokenScope.DATASETS_READ,)
    )[1]
    client = secret_client(token)
    url = f"/api/v1/projects/{project.pk}/datasets/versions/latest/files/data.parquet"
    etag = f'"{parquet.sha256}"'

    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    assert response["ETag"] == etag and response["Content-Length"] == str(len(whole))
    assert response["Content-Disposition"] == 'attachment; filename="data.parquet"'
    body = b"".join(response.streaming_content)
    assert body == whole and hashlib.sha256(body).hexdigest() == parquet.sha256
    assert pq.read_table(io.BytesIO(body)).num_rows == version.row_count

    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    tail = client.get(url, HTTP_RANGE="bytes=-8")
    assert tail.status_code == 206 and b"".join(tail.streaming_content) == whole[-8:]
    assert tail["Content-Range"] == f"bytes {len(whole) - 8}-{len(whole) - 1}/{len(whole)}"
    middle = client.get(url, HTTP_RANGE="bytes=4-103", HTTP_IF_RANGE=etag)
    assert middle.status_code == 206 and b"".join(middle.streaming_content) == whole[4:104]
    assert middle["Content-Length"] == "100"
    head = client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(len(whole))

    default_storage.delete(parquet.storage_name)
    gone = client.get(url)
    assert gone.status_code == 404
    assert client.get(url, HTTP_RANGE="bytes=0-3").status_code == 404


def test_reading_a_stored_file_in_pieces(bucket):
    """core.storage on S3: a stream of a range, and a seekable reader, give the file's bytes."""
    data = bytes(range(256)) * 9000  # 2.3 MB: more than one chunk
    default_storage.save("pieces/blob.bin", io.BytesIO(data))
    assert b"".join(storage_stream(default_storage, "pieces/blob.bin")) == data
    chunks = list(storage_stream(default_storage, "pieces/blob.bin", first=1000, length=1_500_000))
    assert len(chunks) == 2 and b"".join(chunks) == data[1000:1_501_000]
    with storage_open_random(default_storage, "pieces/blob.bin") as handle:
        handle.seek(-10, io.SEEK_END)
        assert handle.read() == data[-10:]
        handle.seek(5)
        assert handle.read(7) == data[5:12]
    with pytest.raises(FileNotFoundError):
        storage_stream(default_storage, "pieces/none.bin")
    with pytest.raises(FileNotFoundError):
        storage_open_random(default_storage, "pieces/none.bin")


def test_images_on_s3_are_served_and_go_into_a_version(bucket, alice, bob, carol):
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2, name="Photos",
                           content_type=ContentType.IMAGE)  # fmt: skip
    red, blue = (
        image_store(data=png((255, 0, 0)), name="red.png"),
        image_store(data=png((0, 0, 255), (5, 9)), name="blue.png"),
    )
    stored = objects(bucket, "images/")
    assert stored[red.file.name] == png((255, 0, 0)) and stored[blue.file.name]
    assert set(objects(bucket, "thumbnails/")) == {red.thumbnail.name, blue.thumbnail.name}
    assert image_store(data=png((255, 0, 0)), name="again.png").pk == red.pk
    items = [
        Item.objects.create(project=project, key=f"photo-{n}", image=blob, content_hash=str(n))
        for n, blob in enumerate([red, blue, red])
    ]

    client = session_client(alice)
    image = client.get(f"/api/v1/projects/{project.pk}/items/{items[1].pk}/image/")
    assert image.status_code == 200 and b"".join(image.streaming_content) == png(
        (0, 0, 255), (5, 9)
    )
    assert image["ETag"] == f'"{blue.sha256}"'
    thumbnail = client.get(f"/items/{items[0].pk}/thumbnail/")
    assert thumbnail.status_code == 200
    assert b"".join(thumbnail.streaming_content) == stored_thumbnail(bucket, red)

    label_all(project, [bob, carol], lambda item, rater: "positive")
    version = build(project, alice, {"fields": ["image"]})
    assert version.status == JobStatus.SUCCEEDED, version.message
    in_bucket = objects(bucket, version.storage_prefix)
    media = {f.name: f for f in version.files.filter(kind=DatasetFile.Kind.MEDIA)}
    assert set(media) == {f"images/{red.sha256}.png", f"images/{blue.sha256}.png"}
    for file in media.values():
        assert hashlib.sha256(in_bucket[file.storage_name]).hexdigest() == file.sha256
    table = pq.read_table(io.BytesIO(in_bucket[version.storage_prefix + "data.parquet"]))
    assert [row["bytes"] for row in table.column("image").to_pylist()] == [
        png((255, 0, 0)),
        png((0, 0, 255), (5, 9)),
        png((255, 0, 0)),
    ]


def stored_thumbnail(bucket: str, blob: Any) -> bytes:
    return objects(bucket, "thumbnails/")[blob.thumbnail.name]


def test_a_failed_build_on_s3_leaves_no_object(bucket, project, alice, bob, carol, monkeypatch):
    make_items(project, 10)
    label_all(project, [bob, carol], lambda item, rater: "positive")
    real = S3Storage._save

    def save(self: Any, name: str, content: Any) -> str:
        if name.endswith("manifest.json"):
            raise OSError("The bucket went away")
        return real(self, name, content)

    monkeypatch.setattr(S3Storage, "_save", save)
    version = dataset_version_request(project=project, spec={}, requested_by=alice,
                                      enqueue=False)  # fmt: skip
    with pytest.raises(OSError, match="bucket went away"):
        dataset_version_run(version_id=version.pk)
    version.refresh_from_db()
    assert version.status == JobStatus.FAILED and not version.files.exists()
    assert objects(bucket, f"datasets/{project.pk}/{version.pk}/") == {}

    monkeypatch.setattr(S3Storage, "_save", real)
    version.refresh_from_db()
    dataset_version_retry(version=version, enqueue=False)
    done = dataset_version_run(version_id=version.pk)
    assert done.status == JobStatus.SUCCEEDED
    assert len(objects(bucket, f"datasets/{project.pk}/{version.pk}/")) == 6


def test_uploads_of_one_name_are_two_objects_and_import_from_s3(bucket, project, alice):
    jobs = [
        import_job_create(
            project=project, uploaded_file=ContentFile(text.encode(), name="items.csv"),
            created_by=alice, source="api", enqueue=False,
        )
        for text in ("key,text\na,first\n", "key,text\nb,second\nc,third\n")
    ]  # fmt: skip
    names = [job.file.name for job in jobs]
    assert names[0] != names[1] and all(n.endswith("/items.csv") for n in names)
    assert set(objects(bucket, "imports/")) == set(names)
    for job in jobs:
        assert import_job_run(job_id=job.pk).status == JobStatus.SUCCEEDED
    assert sorted(project.items.values_list("key", "text")) == [
        ("a", "first"),
        ("b", "second"),
        ("c", "third"),
    ]


@pytest.mark.parametrize("module", ["config.settings.base", "config.settings.production"])
def test_the_settings_put_the_default_storage_in_s3_when_a_bucket_is_named(module):
    script = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = " + repr(module) + "\n"
        "from django.conf import settings\n"
        "print(json.dumps(settings.STORAGES))"
    )
    variables = {
        "ACCORD_S3_BUCKET": "datasets", "ACCORD_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "ACCORD_S3_ADDRESSING_STYLE": "path", "ACCORD_S3_PREFIX": "accord/",
        "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "accord.example",
    }  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_S3_")}
    printed = subprocess.run(
        [sys.executable, "-c", script], env={**environment, **variables}, cwd=BASE_DIR,
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    storages = json.loads(printed)
    assert storages["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storages["default"]["OPTIONS"]
    assert options["bucket_name"] == "datasets" and options["location"] == "accord"
    assert options["endpoint_url"] == "http://127.0.0.1:9000"
    assert options["addressing_style"] == "path" and options["default_acl"] is None
    assert "access_key" not in options, "boto3's own chain when no key is given"
    assert "staticfiles" in storages and "S3" not in storages["staticfiles"]["BACKEND"]
    without = subprocess.run(
        [sys.executable, "-c", script], env={**environment, "SECRET_KEY": "x" * 50,
                                             "ALLOWED_HOSTS": "accord.example"},
        cwd=BASE_DIR, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(without)["default"]["BACKEND"].endswith("FileSystemStorage")
