"""Stored files over HTTP (core.http.stored_file_response): the strong ETag and 304, byte ranges
and 206, 416, If-Range, HEAD, and the whole file as a FileResponse that gunicorn can sendfile."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.test import RequestFactory
from django.utils.http import http_date

from core import storage
from core.http import StoredFile, byte_range, stored_file_response

BODY = bytes(range(256)) * 40  # 10,240 bytes, each position's byte known
MADE = dt.datetime(2026, 12, 7, 19, 30, 5, tzinfo=dt.UTC)
CACHE = "private, max-age=31536000, immutable"


class CountingStorage(FileSystemStorage):
    opened = 0

    def open(self, name: str, mode: str = "rb") -> Any:
        type(self).opened += 1
        return super().open(name, mode)


@pytest.fixture
def stored(tmp_path) -> StoredFile:
    storage = CountingStorage(location=tmp_path)
    CountingStorage.opened = 0
    name = storage.save("datasets/1/2/data.parquet", ContentFile(BODY))
    return StoredFile(
        storage=storage, name=name, sha256=hashlib.sha256(BODY).hexdigest(), size=len(BODY),
        content_type="application/vnd.apache.parquet", last_modified=MADE,
        filename="data.parquet",
    )  # fmt: skip


def answer(stored: StoredFile, method: str = "get", **headers: str) -> HttpResponseBase:
    request = getattr(RequestFactory(), method)("/f", headers=headers)
    return stored_file_response(request, stored, cache_control=CACHE)


def body(response: HttpResponseBase) -> bytes:
    if isinstance(response, StreamingHttpResponse | FileResponse):
        content = b"".join(response.streaming_content)  # type: ignore[arg-type]
        if getattr(response, "file_to_stream", None) is not None:
            response.file_to_stream.close()  # type: ignore[union-attr]
        return content
    return response.content  # type: ignore[attr-defined,no-any-return]


def test_the_whole_file_with_every_header(stored):
    response = answer(stored)
    assert response.status_code == 200
    assert isinstance(response, FileResponse), "a file gunicorn can hand to sendfile"
    assert body(response) == BODY
    assert response["ETag"] == f'"{hashlib.sha256(BODY).hexdigest()}"'
    assert response["Content-Length"] == "10240"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Last-Modified"] == "Mon, 07 Dec 2026 19:30:05 GMT"
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    assert response["Content-Disposition"] == 'attachment; filename="data.parquet"'
    assert response["Cache-Control"] == CACHE


def test_head_has_the_headers_of_get_and_no_body_and_opens_no_file(stored):
    response = answer(stored, "head")
    assert response.status_code == 200
    assert body(response) == b""
    assert response["Content-Length"] == "10240"
    assert response["ETag"] == stored.etag and response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == 'attachment; filename="data.parquet"'
    assert CountingStorage.opened == 0
    assert answer(stored, "head", Range="bytes=0-9").status_code == 200, "Range is for GET"


@pytest.mark.parametrize(
    "if_none_match",
    ["{etag}", "W/{etag}", '"other", {etag}', "*"],
    ids=["exact", "weak", "list", "star"],
)
@pytest.mark.parametrize("method", ["get", "head"])
def test_if_none_match_naming_the_etag_is_a_304(stored, if_none_match, method):
    response = answer(stored, method, If_None_Match=if_none_match.format(etag=stored.etag))
    assert response.status_code == 304
    assert body(response) == b""
    assert response["ETag"] == stored.etag
    assert response["Cache-Control"] == CACHE
    assert CountingStorage.opened == 0


def test_another_etag_gets_the_file(stored):
    response = answer(stored, If_None_Match='"0000"')
    assert response.status_code == 200 and body(response) == BODY


def test_if_modified_since_counts_only_without_if_none_match(stored):
    assert answer(stored, If_Modified_Since=http_date(MADE.timestamp())).status_code == 304
    earlier = http_date(MADE.timestamp() - 60)
    assert answer(stored, If_Modified_Since=earlier).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 §13.2.2).
    both = answer(stored, If_None_Match='"other"', If_Modified_Since=http_date(MADE.timestamp()))
    assert both.status_code == 200


def test_a_failed_if_match_is_a_412_in_json(stored):
    response = answer(stored, If_Match='"other"')
    assert response.status_code == 412
    assert json.loads(body(response))["error"]["code"] == "precondition_failed"
    assert answer(stored, If_Match=stored.etag).status_code == 200


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-100", 100, 100),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-5", 10235, 10239),
        ("bytes=10200-99999", 10200, 10239),  # past the end: to the end
        ("bytes=-99999", 0, 10239),  # more than the file: all of it, still a 206
        ("BYTES = 3 - 7", 3, 7),
    ],
)
def test_one_range_is_a_206_with_those_bytes(stored, header, first, last):
    response = answer(stored, Range=header)
    assert response.status_code == 206
    assert body(response) == BODY[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/10240"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["ETag"] == stored.etag and response["Accept-Ranges"] == "bytes"


def test_a_range_over_many_chunks_is_read_a_chunk_at_a_time(stored, monkeypatch):
    monkeypatch.setattr(storage, "CHUNK_BYTES", 1000)
    response = answer(stored, Range="bytes=1500-7499")
    chunks = list(response.streaming_content)  # type: ignore[attr-defined]
    assert [len(c) for c in chunks] == [1000] * 6
    assert b"".join(chunks) == BODY[1500:7500]


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_a_range_outside_the_file_is_a_416(stored, header):
    response = answer(stored, Range=header)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10240"
    assert json.loads(body(response))["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=a-b", "bytes=", "bytes=-", "0-5"]
)
def test_any_other_range_gets_the_whole_file(stored, header):
    response = answer(stored, Range=header)
    assert response.status_code == 200 and body(response) == BODY


def test_if_range_sends_the_range_only_for_this_very_file(stored):
    modified = http_date(MADE.timestamp())
    for if_range, expected in (
        (stored.etag, 206),
        ('"other"', 200),
        (f"W/{stored.etag}", 200),  # a weak tag never matches in If-Range
        (modified, 206),
        (http_date(MADE.timestamp() - 1), 200),
    ):
        response = answer(stored, Range="bytes=0-9", If_Range=if_range)
        assert response.status_code == expected, if_range
        assert body(response) == (BODY[:10] if expected == 206 else BODY)


def test_an_empty_file_has_no_range(tmp_path):
    storage = FileSystemStorage(location=tmp_path)
    empty = StoredFile(storage=storage, name=storage.save("e.csv", ContentFile(b"")),
                       sha256=hashlib.sha256(b"").hexdigest(), size=0, content_type="text/csv",
                       last_modified=MADE, filename="e.csv")  # fmt: skip
    assert answer(empty, Range="bytes=-5").status_code == 416
    assert answer(empty, Range="bytes=0-").status_code == 416
    response = answer(empty)
    assert response.status_code == 200 and response["Content-Length"] == "0"


def test_a_missing_file_raises_for_the_caller_to_answer(stored):
    stored.storage.delete(stored.name)
    with pytest.raises(FileNotFoundError):
        answer(stored)
    with pytest.raises(FileNotFoundError):
        answer(stored, Range="bytes=0-1")


def test_byte_range_parses_what_rfc_9110_allows():
    assert byte_range(None, 10) is None
    assert byte_range("bytes=0-0", 10) == (0, 0)
    assert byte_range("bytes=9-", 10) == (9, 9)
    assert byte_range("bytes=-1", 10) == (9, 9)
    assert byte_range("bytes=-1", 1) == (0, 0)
    assert byte_range("bytes=0x1-2", 10) is None
    assert byte_range("bytes=\uff11-2", 10) is None  # a full-width digit is not a DIGIT
