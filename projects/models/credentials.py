"""Credentials that reach a project: API tokens and invitation links.

Both are secrets shown once: only a SHA-256 of each is stored (core/secrets.py), with a short
prefix that lets people tell them apart in lists.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from projects.models import Project, Role


class TokenScope(models.TextChoices):
    """What a project token may do, each an endpoint's declared need (projects/api/auth.py).
    An endpoint that declares no scope is closed to project tokens."""

    ITEMS_READ = "items:read", "Read the project's items and label schema"
    DATASETS_READ = "datasets:read", "Read the project's dataset versions"
    FEEDBACK_WRITE = "feedback:write", "Push the project's feedback events"


class ApiToken(models.Model):
    """An API token.

    A personal token (no project, no scopes) acts as its user, with the user's roles. A project
    token, a pipeline's, reads one project within its scopes and can do nothing else; `user` is
    the lead who created it, and the token works only while that lead still leads the project
    and is active: a token never holds more than the person who made it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    scopes = models.CharField(
        max_length=200, blank=True, help_text="A project token's scopes, separated by spaces."
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(project__isnull=True, scopes="")
                | (Q(project__isnull=False) & ~Q(scopes="")),
                name="apitoken_scopes_only_on_project_tokens",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class Invitation(models.Model):
    """A link that lets people join a project with a role: expiring, revocable, for one person
    or for `max_uses` of them. `use_count` only grows, by a conditional update that cannot pass
    `max_uses` (labeling.invitations); each use is an InvitationAcceptance."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.RATER)
    note = models.CharField(max_length=200, blank=True, help_text="For the leads: who it is for.")
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    max_uses = models.PositiveIntegerField(default=1)
    use_count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="invitation_max_uses_min"),
            models.CheckConstraint(
                condition=Q(use_count__lte=F("max_uses")), name="invitation_uses_within_max"
            ),
        ]

    def __str__(self) -> str:
        return f"invitation {self.prefix}… to {self.project_id} as {self.role}"

    @property
    def uses_left(self) -> int:
        return max(0, self.max_uses - self.use_count)

    def state(self, now: datetime | None = None) -> str:
        """'active', or why the link no longer works: 'revoked', 'used', 'expired'."""
        if self.revoked_at is not None:
            return "revoked"
        if self.use_count >= self.max_uses:
            return "used"
        if self.expires_at <= (now or timezone.now()):
            return "expired"
        return "active"


class InvitationAcceptance(models.Model):
    """Who joined through an invitation, and when."""

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="acceptances")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations_accepted"
    )
    created_account = models.BooleanField(default=False, help_text="Signed up through the link.")
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["invitation", "accepted_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "user"], name="acceptance_once_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} accepted {self.invitation}"
