"""Adding, changing and removing a project's members. These live in labeling because they
touch its rows: a member who comes back gets their labeled counts back, and a member who leaves
gives back the items they hold."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labeling.assignment import slots_release
from labeling.models import Assignment, AssignmentStatus
from labeling.selectors import labeled_counts
from projects.models import Membership, Project, Role
from projects.services.archive import project_ensure_writable

if TYPE_CHECKING:
    from django.contrib.auth.models import User


EXTERNAL_STAYS = (
    "{name} is an external rater, named in an imported file: they have no account, cannot sign "
    "in, and stay a rater of the project whose file named them."
)


@transaction.atomic
def membership_set(*, project: Project, user: User, role: str) -> Membership:
    """Add a member or change their role (not in an archived project). An external rater
    (`labeling.imports.raters`) can be neither added elsewhere nor given another role."""
    project_ensure_writable(project=project)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; use one of {Role.values}."})
    external = Membership.objects.filter(user=user, is_external=True).first()
    if external is not None and not (external.project_id == project.pk and role == Role.RATER):
        raise ValidationError(EXTERNAL_STAYS.format(name=external.external_name))
    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if created:
        _labeled_counts_fill(membership)
    if not created and membership.role != role:
        if membership.role == Role.LEAD and _lead_count(project) == 1:
            raise ValidationError("A project keeps at least one lead.")
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def _labeled_counts_fill(membership: Membership) -> None:
    """A member who comes back keeps their counts: their annotations outlived the membership
    row that counted them (labeling keeps the counters from then on)."""
    now = timezone.now()
    total, today = labeled_counts(
        project_id=membership.project_id, user_id=membership.user_id, now=now
    )
    if not total:
        return
    membership.labeled_total, membership.labeled_today = total, today
    membership.labeled_on = timezone.localdate(now)
    membership.save(update_fields=["labeled_total", "labeled_today", "labeled_on"])


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member. The items they hold (live leases, a lead's assignments) go back to the
    queue: their slots are freed, or those items could never reach k raters.

    An external rater stays: the next file naming them would otherwise make a second external
    rater of the same name, whose labels would sit beside the first one's on the same items."""
    if membership.is_external:
        raise ValidationError(EXTERNAL_STAYS.format(name=membership.external_name))
    if membership.role == Role.LEAD and _lead_count(membership.project) == 1:
        raise ValidationError("A project keeps at least one lead.")
    holds = Assignment.objects.select_for_update().filter(
        project=membership.project_id,
        rater=membership.user_id,
        status__in=(AssignmentStatus.LEASED, AssignmentStatus.ASSIGNED),
    )
    item_ids = list(holds.order_by("pk").values_list("item_id", flat=True))
    if item_ids:
        holds.delete()
        slots_release(dict.fromkeys(item_ids, 1), timezone.now())
    membership.delete()


def _lead_count(project: Project) -> int:
    # Lock the project's lead rows so that two concurrent removals cannot both see "two leads".
    return len(
        list(
            Membership.objects.select_for_update()
            .filter(project=project, role=Role.LEAD)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    )


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    """Deactivate an account: it can no longer sign in, its sessions and API tokens stop at once
    (authentication reads `is_active`), and the items it holds in any project go back to the
    queue (a lead's assignment never expires: without this, those items could never reach k
    raters). Its annotations and memberships stay; reactivating is setting `is_active` again.

    The flag goes first: a claim this user has in flight may still take a lease, which expires
    as any lease does."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    holds = Assignment.objects.select_for_update().filter(
        rater=user.pk, status__in=(AssignmentStatus.LEASED, AssignmentStatus.ASSIGNED)
    )
    item_ids = list(holds.order_by("pk").values_list("item_id", flat=True))
    if item_ids:
        holds.delete()
        slots_release(dict.fromkeys(item_ids, 1), timezone.now())
    return user
