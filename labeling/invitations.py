"""Accepting an invitation link: a signed-in user joins the project, or a new person creates an
account and joins, in one transaction. Here rather than in projects: joining goes through
`membership_set`, which gives a returning member their labeled counts back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import Conflict
from labeling.members import membership_set
from projects.models import Invitation, InvitationAcceptance, Membership
from projects.selectors import invitation_for_secret

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class InvitationClosed(Conflict):
    """The link no longer works (or never did); `reason` says why, for the page."""

    error_code = "invitation_closed"

    def __init__(self, reason: str, invitation: Invitation | None) -> None:
        self.reason, self.invitation = reason, invitation
        super().__init__(CLOSED_MESSAGES[reason])


CLOSED_MESSAGES = {
    "unknown": "This invitation link is not valid. Check that you copied all of it.",
    "revoked": "A lead withdrew this invitation.",
    "used": "Everyone this invitation was for has already joined.",
    "expired": "This invitation has expired.",
    "yours": "You have joined through this link before; a lead can add you again.",
    "archived": "This project is archived: nobody joins it now.",
}


class AlreadyMember(Conflict):
    error_code = "already_member"

    def __init__(self, membership: Membership) -> None:
        self.membership = membership
        super().__init__(
            f"You are already a {membership.get_role_display().lower()} of "
            f"“{membership.project.name}”."
        )


@dataclass(frozen=True)
class Joined:
    membership: Membership
    user: User
    created_account: bool


def invitation_open(*, secret: str, now: datetime | None = None) -> Invitation:
    """The invitation of a link that still works; InvitationClosed says why one does not."""
    invitation = invitation_for_secret(secret=secret)
    if invitation is None:
        raise InvitationClosed("unknown", None)
    state = invitation.state(now or timezone.now())
    if state != "active":
        raise InvitationClosed(state, invitation)
    if invitation.project.archived_at is not None:
        raise InvitationClosed("archived", invitation)
    return invitation


@transaction.atomic
def invitation_accept(
    *, secret: str, user: User, created_account: bool = False, now: datetime | None = None
) -> Joined:
    """Join the signed-in `user` to the invitation's project with its role, and record it.

    A member already is one (AlreadyMember): no use is spent and their role stays. The last use
    of a link is taken by a conditional update, so two people accepting at once cannot both get
    it (the loser is told the link was used); a user who already accepted this link (and was
    removed since) cannot use it to come back."""
    now = now or timezone.now()
    invitation = invitation_open(secret=secret, now=now)
    existing = (
        Membership.objects.filter(project_id=invitation.project_id, user_id=user.pk)
        .select_related("project")
        .first()
    )
    if existing is not None:
        raise AlreadyMember(existing)
    if InvitationAcceptance.objects.filter(invitation=invitation, user_id=user.pk).exists():
        raise InvitationClosed("yours", invitation)
    # One use, if one is left and the link still works: the row count says who won.
    taken = Invitation.objects.filter(
        pk=invitation.pk, revoked_at=None, expires_at__gt=now, use_count__lt=F("max_uses")
    ).update(use_count=F("use_count") + 1)
    if not taken:
        invitation.refresh_from_db()
        raise InvitationClosed(invitation.state(now), invitation)
    InvitationAcceptance.objects.create(
        invitation=invitation, user=user, created_account=created_account
    )
    membership = membership_set(project=invitation.project, user=user, role=invitation.role)
    return Joined(membership=membership, user=user, created_account=created_account)


def invitation_signup(
    *, secret: str, username: str, password: str, email: str = "", now: datetime | None = None
) -> Joined:
    """Create an account (the password checked by AUTH_PASSWORD_VALIDATORS) and join the
    invitation's project with it, together: a link that no longer works creates no account, and
    an account is never left without the membership it was made for."""
    invitation_open(secret=secret, now=now)  # a dead link says so before the form is judged
    users = get_user_model()
    user = users(username=username.strip(), email=email.strip())
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as error:
        errors.update(error.message_dict)
    # Names that differ only in case are one name to the people who read them.
    if "username" not in errors and users.objects.filter(username__iexact=user.username).exists():
        errors["username"] = ["A user with that username already exists."]
    try:
        validate_password(password, user)
    except ValidationError as error:
        errors["password"] = error.messages
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            return invitation_accept(secret=secret, user=user, created_account=True, now=now)
    except IntegrityError as error:
        # Two sign-ups raced for one username; the loser's full_clean could not see the winner.
        raise ValidationError({"username": "A user with that username already exists."}) from error
