"""Images: validated with Pillow, stored once by the SHA-256 of their bytes, with a thumbnail.

An image's bytes are stored unchanged under `images/ab/cd/<sha256>.<ext>` and its thumbnail under
`thumbnails/ab/cd/<sha256>.<png|jpg>`. Both paths depend only on the bytes, so storing the same
image twice (a repeated import, two items showing one picture, two workers at once) writes the
same files and finds the same ImageBlob row.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps, UnidentifiedImageError

from projects.models import ImageBlob

# Pillow format name -> file extension. Only these decoders are ever tried on an upload.
IMAGE_FORMATS = {
    "PNG": "png",
    "JPEG": "jpg",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tif",
}
IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff"})
THUMBNAIL_JPEG_QUALITY = 85


class ImageRejected(ValueError):
    """An image that Accord will not store, with the file's name and what is wrong with it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    format: str
    width: int
    height: int
    size_bytes: int

    @property
    def extension(self) -> str:
        return IMAGE_FORMATS[self.format]


def image_validate(*, data: bytes, name: str) -> ImageInfo:
    """Check that `data` is a whole image of an allowed format within the size, side and pixel
    limits, decoding it fully; raise ImageRejected naming `name` and the problem otherwise.

    The pixel limit (ACCORD_IMAGE_MAX_PIXELS) is checked on the header's dimensions before any
    pixel is decoded: that is the decompression-bomb guard. Pillow's own guard
    (Image.MAX_IMAGE_PIXELS) stays as a backstop and is reported the same way.
    """
    sha256 = _image_check(data=data, name=name)
    info, image = _image_decode(data=data, name=name, sha256=sha256)
    image.close()
    return info


def image_store(*, data: bytes, name: str) -> ImageBlob:
    """Validate an image and store it once, returning its ImageBlob (existing or new).

    Call outside a transaction when you can: the files are written before the row, and a row
    is only ever created for files already in storage.
    """
    sha256 = _image_check(data=data, name=name)
    existing = ImageBlob.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    info, image = _image_decode(data=data, name=name, sha256=sha256)
    with image:
        thumbnail, thumbnail_extension = _thumbnail(image)
    shard = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
    file_name = _store_once(f"images/{shard}.{info.extension}", data)
    thumbnail_name = _store_once(f"thumbnails/{shard}.{thumbnail_extension}", thumbnail)
    # Two workers storing the same new image race to insert the row; get_or_create catches the
    # loser's IntegrityError and returns the winner's row (the files are identical).
    blob, _ = ImageBlob.objects.get_or_create(
        sha256=sha256,
        defaults={
            "file": file_name,
            "thumbnail": thumbnail_name,
            "format": info.format,
            "width": info.width,
            "height": info.height,
            "size_bytes": info.size_bytes,
        },
    )
    return blob


def _image_check(*, data: bytes, name: str) -> str:
    """The cheap checks that need no decoding; returns the SHA-256 of the bytes."""
    limit = settings.ACCORD_IMAGE_MAX_BYTES
    if not data:
        raise ImageRejected(name, "the file is empty.")
    if len(data) > limit:
        raise ImageRejected(
            name, f"the file is {_megabytes(len(data))}; the limit is {_megabytes(limit)}."
        )
    return hashlib.sha256(data).hexdigest()


def _image_decode(*, data: bytes, name: str, sha256: str) -> tuple[ImageInfo, Image.Image]:
    """Open, verify, reopen and fully decode the image; return its facts and the decoded image
    (the caller closes it)."""
    allowed = list(IMAGE_FORMATS)
    try:
        with Image.open(io.BytesIO(data), formats=allowed) as probe:
            image_format = str(probe.format)
            width, height = probe.size
            _check_dimensions(name=name, width=width, height=height)
            # verify() reads the whole file and checks its structure (e.g. PNG checksums)
            # without decoding; afterwards the image object is unusable and must be reopened.
            probe.verify()
        image = Image.open(io.BytesIO(data), formats=allowed)
        image.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected(
            name, f"not an image Accord accepts (allowed formats: {', '.join(IMAGE_FORMATS)})."
        ) from None
    except Image.DecompressionBombError:
        # Pillow's own guard fires on opening, before the header's size reaches ours, for an
        # image of over twice its limit: say it in Accord's words, with Accord's limit.
        raise ImageRejected(
            name,
            f"more pixels than the limit of {settings.ACCORD_IMAGE_MAX_PIXELS:,} (a guard "
            "against decompression bombs).",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        # Pillow signals truncated or corrupt data with these (SyntaxError from verify()).
        raise ImageRejected(name, f"the image is damaged or truncated ({error}).") from None
    info = ImageInfo(
        sha256=sha256,
        format=image_format,
        width=width,
        height=height,
        size_bytes=len(data),
    )
    return info, image


def _check_dimensions(*, name: str, width: int, height: int) -> None:
    max_side = settings.ACCORD_IMAGE_MAX_SIDE
    max_pixels = settings.ACCORD_IMAGE_MAX_PIXELS
    if width < 1 or height < 1:
        raise ImageRejected(name, f"the image has no pixels ({width}x{height}).")
    if width > max_side or height > max_side:
        raise ImageRejected(
            name, f"{width}x{height} pixels; no side may be longer than {max_side} pixels."
        )
    if width * height > max_pixels:
        raise ImageRejected(
            name,
            f"{width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,} "
            "(a guard against decompression bombs).",
        )


def _thumbnail(image: Image.Image) -> tuple[bytes, str]:
    """A thumbnail within ACCORD_THUMBNAIL_SIZE, upright per EXIF: PNG when the image has
    transparency, JPEG otherwise."""
    try:
        upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):
        upright = image  # unreadable EXIF: keep the pixels as they are
    thumbnail = upright.copy()
    thumbnail.thumbnail(settings.ACCORD_THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    if thumbnail.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit and float greyscale: scale to 8 bits before converting to a web format.
        thumbnail = thumbnail.convert("F").point(lambda value: value / 256).convert("L")
    buffer = io.BytesIO()
    has_alpha = thumbnail.mode in ("RGBA", "LA", "PA") or "transparency" in thumbnail.info
    if has_alpha:
        thumbnail.convert("RGBA").save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), "png"
    thumbnail.convert("RGB").save(buffer, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY)
    return buffer.getvalue(), "jpg"


def _store_once(path: str, content: bytes) -> str:
    """Write `content` at `path` unless it is there. The path is derived from the content, so
    a file already there holds these very bytes."""
    if default_storage.exists(path):
        return path
    saved = default_storage.save(path, ContentFile(content))
    if saved != path:
        # Another process wrote the same path between exists() and save(), and the storage
        # picked a fresh name for ours: keep theirs, identical by construction.
        default_storage.delete(saved)
    return path


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
