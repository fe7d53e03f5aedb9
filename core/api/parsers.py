"""The parser of file uploads, which holds to a size limit before reading.

JSON bodies need nothing of the kind: DRF reads them through Django's `request.body`, which
refuses one over DATA_UPLOAD_MAX_MEMORY_SIZE (a JSON 413, core/api/errors.py). An upload is
streamed to a temporary file instead, past any such limit; this refuses one whose
Content-Length is over ACCORD_IMPORT_MAX_BYTES before reading a byte of it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.parsers import MultiPartParser

from core.api.exceptions import PayloadTooLarge, size_text

# A multipart body carries its file plus boundaries, headers and small fields.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


class UploadParser(MultiPartParser):
    """multipart/form-data with one file up to ACCORD_IMPORT_MAX_BYTES: file uploads only."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        limit = settings.ACCORD_IMPORT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            length = 0
        if length > limit:
            raise PayloadTooLarge(
                f"The request body is {size_text(length)}; the limit for an upload is "
                f"{size_text(limit)}."
            )
        return super().parse(stream, media_type, parser_context)
