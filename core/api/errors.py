"""Every API error is JSON: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import Conflict


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if key in ("non_field_errors", "detail") else f"{key}: {inner}"
    return str(detail)


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The current state of the data forbids this."


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Conflict):
        exc = ConflictError(" ".join(exc.messages), code=exc.error_code)
    elif isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            # Django names errors about no single field "__all__"; DRF "non_field_errors".
            fields = {
                ("non_field_errors" if key == NON_FIELD_ERRORS else key): value
                for key, value in exc.message_dict.items()
            }
        else:
            fields = {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    body: dict[str, Any] = {
        "code": getattr(exc, "default_code", "error"),
        "message": _first_message(detail),
    }
    if isinstance(exc, exceptions.ValidationError) and isinstance(detail, dict):
        body["fields"] = detail
    if isinstance(exc, exceptions.APIException) and hasattr(exc, "get_codes"):
        codes = exc.get_codes()
        if isinstance(codes, str):
            body["code"] = codes
    response.data = {"error": body}
    if response.status_code == status.HTTP_400_BAD_REQUEST and "fields" not in body:
        body["fields"] = {}
    return response


def api_not_found(request: HttpRequest) -> JsonResponse:
    """Any path under /api/ that no route matches: a JSON 404 rather than the HTML page."""
    message = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        message += " API paths end with a slash."
    return JsonResponse({"error": {"code": "not_found", "message": message}}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/, the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "server_error", "message": "Internal server error; it is logged."}},
            status=500,
        )
    return defaults.server_error(request)
