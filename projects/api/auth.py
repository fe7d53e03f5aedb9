"""API token authentication: `Authorization: Token <secret>` (or `Bearer <secret>`).

A personal token acts as its user. A project token acts as no person (`PipelineUser`): it
passes only where an endpoint grants its scope, in its own project, and only while the lead who
made it still leads that project (projects/api/permissions.py). Both kinds are read, with the
user and the project role the request needs, in one statement.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.api.throttles import FailedTokenThrottle
from core.secrets import secret_hash
from core.sql import Loader, fetch_one
from projects.api.permissions import (
    PIPELINE,
    PipelineUser,
    project_token_check,
    remember_project,
    url_project_id,
)
from projects.models import ApiToken, Project, Role
from projects.selectors import PROJECTS, member_role

CREATOR_GONE = (
    "This project token no longer works: the lead who created it no longer leads the project. "
    "A lead can create a new one."
)

_TOKENS = Loader(ApiToken, ("id", "user_id", "project_id", "scopes", "prefix", "last_used_at"))
_USERS = Loader(get_user_model())


def token_with_user(
    key_hash: str, project_id: int | None = None
) -> tuple[ApiToken | None, Project | None, str | None]:
    """The live token with this hash and its user, in one query; with `project_id`, the same
    query reads that project and the user's membership role in it (both None when there is no
    such project or membership), which the permission check and the view need next.

    Written out as SQL: every API request of a rater's page or a pipeline pays for it, and the
    ORM's compilation of the same query cost more than all the rest of the authentication."""
    users = get_user_model()._meta.db_table
    row = fetch_one(
        f"SELECT {_TOKENS.columns('t')}, {_USERS.columns('u')}, {PROJECTS.columns('p')}, m.role"
        f" FROM projects_apitoken t JOIN {users} u ON u.id = t.user_id"
        " LEFT JOIN projects_project p ON p.id = %s"
        " LEFT JOIN projects_membership m ON m.project_id = p.id AND m.user_id = u.id"
        " WHERE t.key_hash = %s AND t.revoked_at IS NULL",
        [project_id, key_hash],
    )
    if row is None:
        return None, None, None
    n_token, n_user = len(_TOKENS.attnames), len(_USERS.attnames)
    token = _TOKENS.load(row[:n_token])
    token.user = _USERS.load(row[n_token : n_token + n_user])
    project_values = row[n_token + n_user : -1]
    project = PROJECTS.load(project_values) if project_values[0] is not None else None
    return token, project, row[-1]


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: expected 'Token <secret>'."
            )
        try:
            secret = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(
                "The token contains invalid characters."
            ) from error
        view = request.parser_context.get("view")
        project_id = url_project_id(view)
        token, project, role = token_with_user(secret_hash(secret), project_id)
        if token is None or not token.user.is_active:
            # An address that sent too many unknown tokens is told to wait rather than which
            # ones are wrong, until the window has passed: guessing stops paying. Only a failure
            # looks at the count: a good token (every rater's claim) costs no round trip.
            failures = FailedTokenThrottle()
            if failures.refuses(request):
                raise exceptions.Throttled(
                    failures.wait(), detail="Too many unknown API tokens from this address."
                )
            failures.record_failure(request)
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.")
        user: Any = token.user
        if token.project_id is not None:
            project_token_check(token, view, request.method or "GET")
            # The creator's role was read in the token's project: the check passed only there.
            if member_role(token.user, role) != Role.LEAD:
                raise exceptions.AuthenticationFailed(CREATOR_GONE)
            user, role = PipelineUser(token), PIPELINE
        elif project_id is not None:
            role = member_role(token.user, role)
        if project_id is not None:
            remember_project(request, project_id, project, role)
        now = timezone.now()
        # Write last_used_at at most once a minute: a pipeline pulling pages must not write a row
        # per request.
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes the token scheme in the OpenAPI schema (and the docs page's Authorize box)."""

    target_class = "projects.api.auth.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <secret>`: create a token at /tokens/ or POST /api/v1/tokens/.",
        }
