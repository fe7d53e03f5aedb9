"""API exceptions of Accord's own, apart from errors.py: parsers and throttles load while DRF
reads its settings, before errors.py (which imports DRF's views) can be imported."""

from rest_framework import exceptions, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def size_text(size: int) -> str:
    """A size as a message shows it: MB from one MB up, bytes below."""
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size} bytes"
