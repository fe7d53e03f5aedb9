"""API token authentication: `Authorization: Token <secret>` (or `Bearer <secret>`)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from projects.models import ApiToken
from projects.sql import Loader, fetch_one


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_TOKENS = Loader(ApiToken, ("id", "user_id", "last_used_at"))
_USERS = Loader(get_user_model())


def token_with_user(key_hash: str) -> ApiToken | None:
    """The live token with this hash and its user, in one query. Written out as SQL: every API
    request of a rater's page or a pipeline pays for it, and the ORM's compilation of the same
    query cost more than all the rest of the authentication."""
    row = fetch_one(
        f"SELECT {_TOKENS.columns('t')}, {_USERS.columns('u')} FROM projects_apitoken t"
        f" JOIN {get_user_model()._meta.db_table} u ON u.id = t.user_id"
        " WHERE t.key_hash = %s AND t.revoked_at IS NULL",
        [key_hash],
    )
    if row is None:
        return None
    n_token = len(_TOKENS.attnames)
    token = _TOKENS.load(row[:n_token])
    token.user = _USERS.load(row[n_token:])
    return token


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
        token = token_with_user(token_hash(secret))
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.")
        now = timezone.now()
        # Write last_used_at at most once a minute: a pipeline pulling pages must not write a row
        # per request.
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

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
