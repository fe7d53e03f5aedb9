"""Reads about projects that more than one caller needs.

Who sees what: a user sees the projects they are a member of, with the role their membership
gives them (lead or rater). Superusers count as leads of every project. `is_staff` grants nothing
by itself: it only lets a user into the Django admin, where a staff lead is scoped to the projects
they lead like anywhere else (see `projects/admin.py`).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, OuterRef, QuerySet, Subquery, Value

from core import sql
from core.secrets import secret_hash
from projects.models import Invitation, Item, ItemStatus, Membership, Project, Role


def project_role(*, project: Project | int, user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The user's role in the project ('lead' or 'rater'), or None when they are not a member.

    Superusers count as leads everywhere; staff status alone does not.
    """
    if not user.is_authenticated:
        return None
    if getattr(user, "is_superuser", False):
        return Role.LEAD
    project_id = project if isinstance(project, int) else project.pk
    return (
        Membership.objects.filter(project_id=project_id, user_id=user.pk)
        .order_by("pk")  # not the default ordering, which joins the project and user tables
        .values_list("role", flat=True)
        .first()
    )


PROJECTS = sql.Loader(Project)  # a project row read by hand-written SQL


def project_with_role(
    *, project_id: int, user: AbstractBaseUser | AnonymousUser
) -> tuple[Project | None, str | None]:
    """The project and the user's role in it, in one query: every request under a project asks
    both (the permission check, then the view). (None, None) when no such project; the role is
    None when the user is not a member. Superusers count as leads everywhere."""
    if not user.is_authenticated:
        return None, None
    row = sql.fetch_one(
        f"SELECT {PROJECTS.columns('p')}, m.role FROM projects_project p"
        " LEFT JOIN projects_membership m ON m.project_id = p.id AND m.user_id = %s"
        " WHERE p.id = %s",
        [user.pk, project_id],
    )
    if row is None:
        return None, None
    return PROJECTS.load(row[:-1]), member_role(user, row[-1])


def member_role(user: AbstractBaseUser | AnonymousUser, membership_role: str | None) -> str | None:
    """The role a user acts with, given their membership's: superusers are leads everywhere."""
    return Role.LEAD if getattr(user, "is_superuser", False) else membership_role


def projects_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Projects the user may see: all for superusers, else those they are a member of."""
    if not user.is_authenticated:
        return Project.objects.none()
    if getattr(user, "is_superuser", False):
        return Project.objects.all()
    return Project.objects.filter(memberships__user_id=user.pk)


def projects_led_by(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Projects the user leads: all for superusers."""
    if not user.is_authenticated:
        return Project.objects.none()
    if getattr(user, "is_superuser", False):
        return Project.objects.all()
    return Project.objects.filter(memberships__user_id=user.pk, memberships__role=Role.LEAD)


def item_status_counts(*, project_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Items per status for each project, in one grouped query served by the
    (project, status) index. Statuses with no item are absent."""
    counts: dict[int, dict[str, int]] = {}
    rows = (
        Item.objects.filter(project_id__in=list(project_ids))
        .order_by()
        .values_list("project_id", "status")
        .annotate(n=Count("id"))
    )
    for project_id, status, n in rows:
        counts.setdefault(project_id, {})[status] = n
    return counts


def projects_for_user_with_role(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """`projects_for_user`, each annotated with `my_role` and with its labels prefetched."""
    role: Subquery | Value
    if getattr(user, "is_superuser", False):
        role = Value(Role.LEAD)
    else:
        role = Subquery(
            Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk or 0).values("role")[
                :1
            ]
        )
    return projects_for_user(user=user).annotate(my_role=role).prefetch_related("labels")


def item_counts_by_status(*, project: Project) -> dict[str, int]:
    """The project's items counted by status, every status present, plus `total`."""
    counts = dict.fromkeys(ItemStatus.values, 0)
    counts.update(item_status_counts(project_ids=[project.pk]).get(project.pk, {}))
    return {"total": sum(counts.values()), **counts}


def project_has_annotations(*, project: Project) -> bool:
    """Whether anyone has labeled anything in the project, told by the items' annotation counts
    (labeling keeps them, under the item's row lock, in this app's table)."""
    return Item.objects.filter(project_id=project.pk, annotation_count__gt=0).exists()


class ArchivedFilter:
    """The lists' `archived` filter: archived projects are hidden unless asked for."""

    ACTIVE, ARCHIVED, ALL = "false", "true", "all"
    CHOICES = ((ACTIVE, "Active"), (ARCHIVED, "Archived"), (ALL, "All"))


def projects_by_archived(
    projects: QuerySet[Project], *, archived: str = ArchivedFilter.ACTIVE
) -> QuerySet[Project]:
    if archived == ArchivedFilter.ALL:
        return projects
    return projects.filter(archived_at__isnull=archived != ArchivedFilter.ARCHIVED)


def invitation_for_secret(*, secret: str) -> Invitation | None:
    """The invitation whose link ends in `secret`, with its project and inviter, whatever its
    state (the page says why a link no longer works)."""
    return (
        Invitation.objects.select_related("project", "created_by")
        .filter(key_hash=secret_hash(secret))
        .first()
    )
