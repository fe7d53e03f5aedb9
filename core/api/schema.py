"""The OpenAPI schema's account of errors: every operation lists the error statuses it can
answer, each with the one JSON error shape (the `Error` component), so that a client generated
from the schema, or a fuzzer checking responses against it, meets no undocumented answer.

Which statuses, by what the operation is (an operation that can answer another, such as a 409,
says so itself with `error_responses`):
- 400: any write (a rule of the service may refuse it), and a read with query parameters;
- 401: every operation (no credentials, or unknown ones);
- 403: any write (the CSRF check of session callers, the role a write needs), and any read
  behind a project-role permission;
- 404: an operation with ids in its path;
- 409: any write to a project or under it (an archived project refuses every change);
- 413, 415: an operation with a request body (too large; not of a media type it accepts);
- 414: an operation with query parameters, whose URL can outgrow the web server's limit (an
  answer of the server's, before Django: the one error that is not JSON);
- 429: every operation (core/api/throttles.py), with Retry-After.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, AllowAny, IsAuthenticated


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="Stable, for programs: `not_found`, `throttled`, ...")
    message = serializers.CharField(help_text="For people: what is wrong and what to do.")
    fields = serializers.DictField(  # type: ignore[assignment]  # the error's, not .fields
        required=False,
        child=serializers.JSONField(),
        help_text="400: the problems, by input field (`non_field_errors` for the whole input).",
    )


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error of the API: {"error": {"code", "message", "fields"?}}."""

    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"


DESCRIPTIONS = {
    400: "The input is not valid: `message` says why, `fields` names each problem.",
    401: "No credentials, or an unknown or revoked token.",
    403: "Signed in, but not allowed: the role this needs, or the CSRF check of a session.",
    404: "No such object, or in a project the caller is not a member of.",
    409: "The object's state does not allow this now (`code` says which state).",
    413: "The request body is over the size limit.",
    415: "The body is not of a media type this operation accepts.",
    414: "The URL is longer than the web server takes (4 KB with gunicorn): answered by the "
    "server itself, before Accord, so not in JSON.",
    429: "Too many requests: Retry-After says in how many seconds to try again.",
}

RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before trying again.",
    }
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Error statuses an operation answers beyond those every operation of its kind does, for
    `extend_schema(responses={..., **error_responses(409)})`."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=DESCRIPTIONS[code]) for code in codes
    }


_PLAIN_PERMISSIONS = (AllowAny, IsAuthenticated)
PROJECT_PATHS = "/api/v1/projects/{"


class ErrorDocumentingAutoSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses: dict[str, Any] = operation["responses"]
        for code in self._error_codes(operation):
            if str(code) in responses:
                continue
            if code == 414:
                responses["414"] = {"description": DESCRIPTIONS[414]}
                continue
            response = self._get_response_for_code(ErrorSerializer, str(code))
            response["description"] = DESCRIPTIONS[code]
            if code == 429:
                response["headers"] = RETRY_AFTER
            responses[str(code)] = response
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation: dict[str, Any]) -> list[int]:
        permissions = self.view.get_permissions()
        public = all(isinstance(p, AllowAny) for p in permissions)
        role_checked = any(not isinstance(p, _PLAIN_PERMISSIONS) for p in permissions)
        parameters = operation.get("parameters", [])
        writes = self.method not in SAFE_METHODS
        has_body = "requestBody" in operation
        codes = [429]
        has_query = any(p["in"] == "query" for p in parameters)
        if writes or has_query:
            codes.append(400)
        if has_query:
            codes.append(414)
        if not public:
            codes.append(401)
        if writes or role_checked:
            codes.append(403)
        if any(p["in"] == "path" for p in parameters):
            codes.append(404)
        if writes and self.path.startswith(PROJECT_PATHS):
            # An archived project refuses every change, and a project's state refuses some
            # (core.errors.Conflict): a label in use, a kind its annotations already follow.
            codes.append(409)
        if has_body:
            codes += [413, 415]
        return codes
