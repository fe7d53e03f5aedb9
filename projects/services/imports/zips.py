"""Reading a ZIP of images: its members, its optional manifest, and each image checked whole.

Without a manifest every image file is an item (other files are ignored and named in the job's
message). With a `manifest.csv` or `manifest.jsonl` next to the images, each manifest row is an
item and names its image in `file` (or `image`); images it does not name are ignored. A ZIP made
by zipping a folder works the same: the folder is taken as the root.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

from django.conf import settings

from core.readers import (
    FileRejected,
    Problems,
    Record,
    RowError,
    csv_records,
    jsonl_records,
    line_count,
    show,
)
from projects.services.images import IMAGE_EXTENSIONS, ImageInfo, ImageRejected, image_validate
from projects.services.imports.rows import RESERVED_FIELDS

MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")


class ZipUpload:
    """An open ZIP being imported. Use as a context manager."""

    def __init__(self, upload: IO[bytes]) -> None:
        try:
            self.archive = zipfile.ZipFile(upload)
        except (zipfile.BadZipFile, OSError) as error:
            raise FileRejected(
                RowError(location="file", message=f"not a readable ZIP file ({error}).")
            ) from None
        unsafe = [info.filename for info in self.archive.infolist() if _unsafe(info.filename)]
        if unsafe:
            self.archive.close()
            shown = ", ".join(unsafe[:5]) + (
                f" and {len(unsafe) - 5} more" if len(unsafe) > 5 else ""
            )
            raise FileRejected(
                RowError(
                    location="file",
                    message=f"the ZIP holds entries whose paths leave its folder ({shown}): "
                    "an entry may not start with / or a drive letter, nor contain '..'. Zip "
                    "the folder of images again.",
                )
            )
        self.members = {
            info.filename: info
            for info in self.archive.infolist()
            if not info.is_dir() and not _hidden(info.filename)
        }
        self.root = _root(list(self.members))
        manifests = [
            name for name in self.members if name[len(self.root) :].lower() in MANIFEST_NAMES
        ]
        if len(manifests) > 1:
            self.archive.close()
            raise FileRejected(
                RowError(
                    location="file",
                    message=f"the ZIP holds two manifests ({' and '.join(manifests)}); keep one.",
                )
            )
        self.manifest = manifests[0] if manifests else None
        self.pictures = sorted(name for name in self.members if _is_picture(name))
        # Filled while reading: the first member seen with each image's bytes, and the files
        # that are not items.
        self.images: dict[str, str] = {}
        self.ignored: list[str] = []

    def __enter__(self) -> ZipUpload:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.archive.close()

    def records(self, problems: Problems) -> tuple[int, Iterator[tuple[Record, ImageInfo]]]:
        """How many records to expect, and the records with their validated images. A record
        whose image is missing or bad adds a problem and is skipped."""
        if self.manifest is None:
            self.ignored.extend(sorted(set(self.members) - set(self.pictures)))
            records = (Record(name, {"file": name[len(self.root) :]}) for name in self.pictures)
            return len(self.pictures), self._with_images(records, problems)
        try:
            manifest = io.BytesIO(self.read(self.manifest, limit=settings.ACCORD_IMPORT_MAX_BYTES))
        except ImageRejected as rejected:
            raise FileRejected(RowError(location=self.manifest, message=rejected.problem)) from None
        prefix = f"{self.manifest} line "
        is_csv = self.manifest.lower().endswith(".csv")
        total = max(line_count(manifest) - is_csv, 0)  # the header is not a record
        if is_csv:
            manifest_records = csv_records(
                manifest, problems=problems, required=("file", "image"), known=RESERVED_FIELDS,
                prefix=prefix,
            )  # fmt: skip
        else:
            manifest_records = jsonl_records(manifest, problems=problems, prefix=prefix)
        return total, self._with_images(manifest_records, problems)

    def _with_images(
        self, records: Iterator[Record], problems: Problems
    ) -> Iterator[tuple[Record, ImageInfo]]:
        named: set[str] = set()
        for record in records:
            found = self._image_of(record)
            if isinstance(found, RowError):
                problems.add(found)
                continue
            member, image = found
            named.add(member)
            self.images.setdefault(image.sha256, member)
            yield record._replace(fields={"file": member[len(self.root) :], **record.fields}), image
        if self.manifest is not None:
            self.ignored.extend(name for name in self.pictures if name not in named)

    def _image_of(self, record: Record) -> tuple[str, ImageInfo] | RowError:
        """The member a record names (in `file`, or else `image`) and its validated image, or
        the problem with them. Takes the field out of the record's fields."""
        fields = record.fields
        field = "image" if "file" not in fields and "image" in fields else "file"
        reference = fields.pop(field, None)
        if reference is None or reference == "":
            return RowError(
                location=record.location,
                message="missing: name the image's path inside the ZIP.",
                field=field,
            )
        if not isinstance(reference, str):
            message = "must be a path inside the ZIP (a string)."
        elif (member := self._member(reference)) is None:
            message = "no such file in the ZIP."
        else:
            try:
                data = self.read(member, limit=settings.ACCORD_IMAGE_MAX_BYTES)
                return member, image_validate(data=data, name=member)
            except ImageRejected as rejected:
                message = rejected.problem
        return RowError(
            location=record.location, message=message, field=field, value=show(reference)
        )

    def read(self, member: str, *, limit: int) -> bytes:
        """A member's bytes, refusing more than `limit` whatever the ZIP's header claims."""
        info = self.members[member]
        if info.file_size > limit:
            raise ImageRejected(
                member, f"the file is {_mb(info.file_size)}; the limit is {_mb(limit)}."
            )
        try:
            with self.archive.open(info) as stream:
                data = stream.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
            raise ImageRejected(member, f"cannot be read from the ZIP ({error}).") from None
        except (NotImplementedError, RuntimeError) as error:  # unknown compression, encryption
            raise ImageRejected(member, f"cannot be unpacked ({error}).") from None
        if len(data) > limit:
            raise ImageRejected(member, f"the file is larger than the limit of {_mb(limit)}.")
        return data

    def _member(self, reference: str) -> str | None:
        path = reference.strip().replace("\\", "/").removeprefix("./").lstrip("/")
        for candidate in (self.root + path, path):
            if candidate in self.members:
                return candidate
        return None


def _unsafe(name: str) -> bool:
    """An entry that would land outside the folder it is unpacked in: an absolute path, a
    Windows drive, or a '..' part (either slash)."""
    path = name.replace("\\", "/")
    return (
        path.startswith("/")
        or (len(path) > 1 and path[1] == ":" and path[0].isalpha())
        or ".." in path.split("/")
    )


def _hidden(name: str) -> bool:
    """macOS resource forks, dot files and dot folders."""
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _root(names: list[str]) -> str:
    """The folder every member sits in, if the ZIP was made by zipping a folder; else ''."""
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        return f"{tops.pop()}/"
    return ""


def _is_picture(name: str) -> bool:
    return name.rsplit(".", 1)[-1].lower() in IMAGE_EXTENSIONS


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"
