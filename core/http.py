"""Serving stored files that never change under their name: content-addressed blobs (an item's
image), and files with byte ranges (a dataset version's, `stored_file_response`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from django.core.files.storage import Storage
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    StreamingHttpResponse,
)
from django.utils.cache import get_conditional_response
from django.utils.http import (
    content_disposition_header,
    http_date,
    parse_etags,
    parse_http_date_safe,
)

from core.api.errors import error_response
from core.storage import CHUNK_BYTES, storage_path, storage_stream

CACHE_CONTROL = "private, max-age=86400"


def etag_matches(request: HttpRequest, etag: str) -> bool:
    """Whether If-None-Match names `etag`: in a list, as a weak tag (`W/"..."`, compared weakly
    as RFC 9110 says for If-None-Match), or as `*`. Parsed by Django's own helper."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    tags = parse_etags(header)
    if tags == ["*"]:
        return True
    return etag.removeprefix("W/") in {tag.removeprefix("W/") for tag in tags}


def immutable_file_response(
    request: HttpRequest, *, etag: str, open_file: Callable[[], IO[bytes]]
) -> HttpResponseBase:
    """304 when the client's copy is current, else the file; both with the ETag and a day's
    private caching. `open_file` may raise FileNotFoundError or ValueError (no file): the
    caller answers that as its kind of 404."""
    response: HttpResponseBase
    if etag_matches(request, etag):
        response = HttpResponseNotModified()
    else:
        response = FileResponse(open_file())
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response


# --- stored files with ranges -------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    """A file in a Django storage that never changes under its name, with what the response
    says of it: its sha256 (the strong ETag), its size, its type, when it was made
    (Last-Modified) and the name a download is saved under."""

    storage: Storage
    name: str
    sha256: str
    size: int
    content_type: str
    last_modified: datetime
    filename: str

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'


class RangeNotSatisfiable(Exception):
    """The Range asks for no byte of the file (416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range (first, last; inclusive) that a Range header asks for, or None to send
    the whole file: no header, another unit, several ranges (allowed by RFC 9110 §14.2, and
    no client of a dataset asks for them), or a header that does not parse. Raises
    RangeNotSatisfiable when the range starts at or past the end, or asks for the last 0
    bytes, or for any byte of an empty file (RFC 9110 §14.1.2)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not all(
        part.isascii() and part.isdigit() for part in (first_text or "0", last_text or "0")
    ):
        return None
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # an invalid range-spec: ignored, as RFC 9110 §14.1.1 allows
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(int(last_text), size - 1) if last_text else size - 1


def _if_range_holds(request: HttpRequest, stored: StoredFile) -> bool:
    """If-Range: send the range only when the client's copy is this file: its strong ETag
    compared strongly (a weak tag never matches), or a date equal to Last-Modified (our
    dates are strong: the file never changes). RFC 9110 §13.1.5."""
    header = request.headers.get("If-Range")
    if header is None:
        return True
    header = header.strip()
    if header.startswith(('"', "W/")):
        return header == stored.etag
    date = parse_http_date_safe(header)
    return date is not None and date == int(stored.last_modified.timestamp())


def stored_file_response(
    request: HttpRequest, stored: StoredFile, *, cache_control: str
) -> HttpResponseBase:
    """A stored file as HTTP answers it to GET and HEAD, with its strong ETag (the sha256),
    Last-Modified, Content-Length, Accept-Ranges, Content-Disposition and `cache_control`:

    - If-None-Match naming the ETag (weak comparison, lists, *), or If-Modified-Since no older
      than the file when there is no If-None-Match: 304 (Django's conditional checks, RFC 9110
      §13.2.2; If-Match and If-Unmodified-Since that fail: 412);
    - one byte range in Range (bytes=a-b, a-, -n), if If-Range holds: 206 with Content-Range;
      a range past the end: 416 with Content-Range: bytes */size; anything else in Range: the
      whole file;
    - HEAD: the headers of the GET, no body, and the file is not opened.

    On a storage with local files the whole file is a FileResponse over the file on disk, so
    that a WSGI server with sendfile (gunicorn) hands it to the kernel; otherwise (S3) it
    streams from one GET a chunk at a time, and a range from one ranged GET (core.storage).
    Raises FileNotFoundError when the storage has no such file (the caller answers 404).
    """
    last_modified = int(stored.last_modified.timestamp())
    headers = {
        "ETag": stored.etag,
        "Last-Modified": http_date(last_modified),
        "Accept-Ranges": "bytes",
        "Cache-Control": cache_control,
    }
    conditional = get_conditional_response(request, etag=stored.etag, last_modified=last_modified)
    if conditional is not None:
        if conditional.status_code == 412:
            conditional = error_response(
                412, "precondition_failed", "If-Match or If-Unmodified-Since does not hold."
            )
        for name, value in headers.items():
            conditional[name] = value
        return conditional

    span = None
    if request.method == "GET" and _if_range_holds(request, stored):
        try:
            span = byte_range(request.headers.get("Range"), stored.size)
        except RangeNotSatisfiable:
            refused = error_response(
                416, "range_not_satisfiable",
                f"The range is outside the file, which has {stored.size} bytes.",
            )  # fmt: skip
            refused["Content-Range"] = f"bytes */{stored.size}"
            for name, value in headers.items():
                refused[name] = value
            return refused

    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(content_type=stored.content_type)
        length = stored.size
    elif span is None and (local := storage_path(stored.storage, stored.name)) is not None:
        whole = FileResponse(
            open(local, "rb"),  # noqa: SIM115 (the response closes it)
            content_type=stored.content_type,
            as_attachment=True,
            filename=stored.filename,
        )
        whole.block_size = CHUNK_BYTES
        response = whole
        length = stored.size
    elif span is None:
        response = StreamingHttpResponse(
            storage_stream(stored.storage, stored.name), content_type=stored.content_type
        )
        length = stored.size
    else:
        first, last = span
        length = last - first + 1
        # The stream opens the file now, so that a missing file is a 404, not a broken 206.
        response = StreamingHttpResponse(
            storage_stream(stored.storage, stored.name, first=first, length=length),
            status=206,
            content_type=stored.content_type,
        )
        response["Content-Range"] = f"bytes {first}-{last}/{stored.size}"
    for name, value in headers.items():
        response[name] = value
    response["Content-Length"] = str(length)
    if "Content-Disposition" not in response:
        disposition = content_disposition_header(as_attachment=True, filename=stored.filename)
        if disposition:
            response["Content-Disposition"] = disposition
    return response
