"""Personal API tokens: created and revoked by their owner; the secret is shown once."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils import timezone

from projects.api.auth import token_hash
from projects.models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TOKEN_PREFIX = "acc_"


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored and never shown
    again."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. the pipeline that uses it."})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=secret[: len(TOKEN_PREFIX) + 6],
        key_hash=token_hash(secret),
    )  # fmt: skip
    return token, secret


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
