"""Serving stored files that never change under their name (content-addressed blobs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from django.http import FileResponse, HttpRequest, HttpResponseBase, HttpResponseNotModified
from django.utils.http import parse_etags

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
