"""Every API error is JSON: {"error": {"code", "message", "fields"?}}.

DRF's exceptions go through `json_exception_handler`. What Django answers before or around DRF
(no route matched, a CSRF failure, a body over the size limit, an unexpected exception) goes
through the handlers below, which answer JSON under /api/ and Django's usual pages elsewhere.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.api.exceptions import PayloadTooLarge, size_text
from core.errors import Conflict

API_PREFIX = "/api/"


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    fields: dict[str, list[str]] | None = None,
    **headers: str,
) -> JsonResponse:
    """An API error answered outside DRF, in the same shape."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    response = JsonResponse({"error": body}, status=status_code)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


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


def _as_api_exception(exc: Exception) -> Exception:
    """Django's own exceptions (and the services' Conflict) as the DRF exceptions that answer
    them."""
    if isinstance(exc, Conflict):
        return ConflictError(" ".join(exc.messages), code=exc.error_code)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            # Django names errors about no single field "__all__"; DRF "non_field_errors".
            fields = {
                ("non_field_errors" if key == NON_FIELD_ERRORS else key): value
                for key, value in exc.message_dict.items()
            }
        else:
            fields = {"non_field_errors": exc.messages}
        return exceptions.ValidationError(fields)
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(_too_big_message())
    if isinstance(exc, TooManyFieldsSent):
        return exceptions.ParseError(str(exc))
    return exc


def _too_big_message() -> str:
    from django.conf import settings

    return (
        f"The request body is over the limit of {size_text(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)}."
    )


def json_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _as_api_exception(exc)
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
    elif getattr(exc, "error_fields", None):
        # An exception of the app's own that names the input it is about.
        body["fields"] = exc.error_fields  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.APIException) and hasattr(exc, "get_codes"):
        codes = exc.get_codes()
        if isinstance(codes, str):
            body["code"] = codes
    response.data = {"error": body}
    if response.status_code == status.HTTP_400_BAD_REQUEST and "fields" not in body:
        body["fields"] = {}
    return response


# --- Django's handlers: JSON under /api/ -------------------------------------------------------


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Any path under /api/ that no route matches, whatever the method: a JSON 404. Exempt from
    CSRF, as DRF's views are, so that a POST with a token is not answered by the CSRF page."""
    message = f"No API endpoint at {request.path}."
    if not request.path.endswith("/"):
        message += " API paths end with a slash."
    return error_response(404, "not_found", message)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400. Django answers a body over DATA_UPLOAD_MAX_MEMORY_SIZE here too (it is a
    SuspiciousOperation): under /api/ that is a 413."""
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return error_response(413, "payload_too_large", _too_big_message())
    return error_response(400, "bad_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403."""
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return error_response(403, "permission_denied", str(exception) or "Permission denied.")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404."""
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return error_response(404, "not_found", f"No API endpoint at {request.path}.")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/, the usual page elsewhere."""
    if not is_api(request):
        return defaults.server_error(request)
    return error_response(500, "server_error", "Internal server error; it is logged.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: DRF's views check CSRF themselves (session callers only), so this is
    reached under /api/ only by a view outside DRF; it answers JSON there all the same."""
    if not is_api(request):
        return django_csrf_failure(request, reason)
    return error_response(403, "csrf_failed", f"CSRF check failed: {reason}")
