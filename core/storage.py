"""Reading stored files without loading them whole, on local disk or in S3.

Django's storage API opens a file as a whole: a local storage's file is the file on disk, but
django-storages' S3File (1.14) downloads the entire object into a temporary file on first read,
even to read ten bytes of it. Serving a byte range of a 1 GB dataset file, or reading four
columns of a Parquet file, would download all of it. Here a storage's file is read:

- on a storage with local paths (FileSystemStorage): from the file on disk;
- on django-storages' S3Storage: with ranged GETs on the object (`storage_stream` makes one
  GET for the bytes asked and hands them on a chunk at a time; `storage_open_random` makes one
  GET per read, for readers that seek, such as Parquet's);
- on any other storage: through `storage.open`, seeking and reading a chunk at a time.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.files.storage import Storage

CHUNK_BYTES = 1024 * 1024


def storage_path(storage: Storage, name: str) -> Path | None:
    """The file's path on this machine, or None when the storage keeps no local files."""
    try:
        return Path(storage.path(name))
    except NotImplementedError:
        return None


def _s3_object(storage: Storage, name: str) -> Any | None:
    """The boto3 Object of `name` when `storage` is django-storages' S3Storage, else None."""
    try:
        from storages.backends.s3 import S3Storage
        from storages.utils import clean_name
    except ImportError:  # the s3 extra is not installed: no storage can be an S3Storage
        return None
    if not isinstance(storage, S3Storage):
        return None
    return storage.bucket.Object(storage._normalize_name(clean_name(name)))


def _missing(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404 or response.get(
        "Error", {}
    ).get("Code") in {"404", "NoSuchKey", "NotFound"}


def storage_stream(
    storage: Storage, name: str, *, first: int = 0, length: int | None = None
) -> Iterator[bytes]:
    """The bytes of `name` from `first`, `length` of them (None: to the end), a chunk of at
    most CHUNK_BYTES at a time. On S3 one ranged GET streams them. Raises FileNotFoundError
    before yielding anything when there is no such file (so a caller can still answer 404): the
    file is opened by this call, not by the first iteration."""
    if length is not None and length <= 0:
        return iter(())
    s3_object = _s3_object(storage, name)
    if s3_object is not None:
        from botocore.exceptions import ClientError

        last = "" if length is None else str(first + length - 1)
        try:
            body = s3_object.get(Range=f"bytes={first}-{last}")["Body"]
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(name) from error
            raise
        return _closing_chunks(body, body.iter_chunks(CHUNK_BYTES))
    path = storage_path(storage, name)
    handle = open(path, "rb") if path is not None else storage.open(name, "rb")  # noqa: SIM115
    return _closing_chunks(handle, _read_chunks(handle, first, length))


def _read_chunks(handle: IO[bytes], first: int, length: int | None) -> Iterator[bytes]:
    if first:
        handle.seek(first)
    left = length
    while left is None or left > 0:
        chunk = handle.read(CHUNK_BYTES if left is None else min(CHUNK_BYTES, left))
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


def _closing_chunks(resource: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks`, closing `resource` when they end or the consumer stops (a response closes
    its iterator when the client goes away)."""
    try:
        yield from chunks
    finally:
        resource.close()


def storage_open_random(storage: Storage, name: str) -> IO[bytes]:
    """`name` opened for reading with seeks, as Parquet's reader does (the footer, then the
    column chunks it wants): a local file, on S3 a reader making one ranged GET per read (and
    none for what it does not read), else `storage.open`. Raises FileNotFoundError."""
    s3_object = _s3_object(storage, name)
    if s3_object is not None:
        from botocore.exceptions import ClientError

        try:
            s3_object.load()
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(name) from error
            raise
        return io.BufferedReader(_S3RangeReader(s3_object), buffer_size=64 * 1024)
    path = storage_path(storage, name)
    if path is not None:
        return open(path, "rb")
    return storage.open(name, "rb")


class _S3RangeReader(io.RawIOBase):
    """A seekable read-only view of an S3 object, each read one ranged GET."""

    def __init__(self, s3_object: Any) -> None:
        self._object = s3_object
        self._size: int = s3_object.content_length
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(origin + offset, 0)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        end = self._position + wanted - 1
        data = self._object.get(Range=f"bytes={self._position}-{end}")["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
