"""API tokens: personal ones, created and revoked by their owner, and project tokens, created and
revoked by a project's leads for a pipeline. The secret is shown once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils import timezone

from core.secrets import secret_hash, secret_new
from projects.models import ApiToken, Project, TokenScope

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TOKEN_PREFIX = "acc_"
PROJECT_TOKEN_PREFIX = "acp_"
# Scopes a lead may give a project token today. Pushing feedback events is representable but
# comes with the feedback app, which will declare it on its endpoint; a dataset token made now
# reads the dataset versions as soon as their endpoints exist.
OFFERED_SCOPES = (TokenScope.ITEMS_READ, TokenScope.DATASETS_READ)
DEFAULT_PROJECT_SCOPES = OFFERED_SCOPES


def _name_clean(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. the pipeline that uses it."})
    return name[:100]


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a personal token and return it with its secret, which is never stored and never
    shown again."""
    name = _name_clean(name)
    secret = secret_new(TOKEN_PREFIX)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=secret[: len(TOKEN_PREFIX) + 6], key_hash=secret_hash(secret)
    )
    return token, secret


def project_token_create(
    *, project: Project, created_by: User, name: str,
    scopes: Iterable[str] = DEFAULT_PROJECT_SCOPES,
) -> tuple[ApiToken, str]:  # fmt: skip
    """Create a project token (a pipeline's) and return it with its secret, shown once.

    The caller has checked that `created_by` leads the project; the token stops working when
    they no longer do (projects/api/auth.py)."""
    name = _name_clean(name)
    chosen = sorted(set(scopes))
    if not chosen:
        raise ValidationError({"scopes": "Choose at least one scope."})
    unknown = [scope for scope in chosen if scope not in TokenScope.values]
    if unknown:
        raise ValidationError({"scopes": f"Unknown scope {unknown[0]!r}; use {OFFERED_SCOPES}."})
    planned = [scope for scope in chosen if scope not in OFFERED_SCOPES]
    if planned:
        raise ValidationError(
            {"scopes": f"{planned[0]!r} comes with the feedback events API; not yet offered."}
        )
    secret = secret_new(PROJECT_TOKEN_PREFIX)
    token = ApiToken.objects.create(
        user=created_by, project=project, scopes=" ".join(chosen), name=name,
        prefix=secret[: len(PROJECT_TOKEN_PREFIX) + 6], key_hash=secret_hash(secret),
    )  # fmt: skip
    return token, secret


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
