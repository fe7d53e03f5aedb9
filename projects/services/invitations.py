"""Invitation links: a lead creates and revokes them. (Accepting one adds a member, which is
labeling's to do: labeling.invitations.)"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.utils import timezone

from core.secrets import secret_hash, secret_new
from projects.models import Invitation, Project, Role
from projects.services.archive import project_ensure_writable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

INVITATION_PREFIX = "inv_"
MAX_USES_LIMIT = 1000
MAX_DAYS = 90
DEFAULT_DAYS = 7


def invitation_create(
    *, project: Project, created_by: User, role: str = Role.RATER, max_uses: int = 1,
    expires_in_days: int = DEFAULT_DAYS, note: str = "",
) -> tuple[Invitation, str]:  # fmt: skip
    """Create an invitation link and return it with its secret (the link's last part), which
    is never stored and never shown again. The caller has checked that `created_by` leads."""
    project_ensure_writable(project=project)
    errors: dict[str, str] = {}
    if role not in Role.values:
        errors["role"] = f"Unknown role {role!r}; use one of {Role.values}."
    if not 1 <= max_uses <= MAX_USES_LIMIT:
        errors["max_uses"] = f"An invitation is for 1 to {MAX_USES_LIMIT} people."
    if not 1 <= expires_in_days <= MAX_DAYS:
        errors["expires_in_days"] = f"An invitation lasts 1 to {MAX_DAYS} days."
    if errors:
        raise ValidationError(errors)
    secret = secret_new(INVITATION_PREFIX)
    invitation = Invitation.objects.create(
        project=project, role=role, max_uses=max_uses, note=note.strip()[:200],
        expires_at=timezone.now() + timedelta(days=expires_in_days), created_by=created_by,
        prefix=secret[: len(INVITATION_PREFIX) + 6], key_hash=secret_hash(secret),
    )  # fmt: skip
    return invitation, secret


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """Stop the link at once; the people who joined through it stay members. Revoking is
    allowed in an archived project: taking access away always is."""
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation
