"""Reads about projects that more than one caller needs."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from projects.models import Membership, Project, Role


def project_role(*, project: Project | int, user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The user's role in the project ('lead' or 'rater'), or None. Staff count as leads."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.LEAD
    project_id = project if isinstance(project, int) else project.pk
    return (
        Membership.objects.filter(project_id=project_id, user=user)
        .values_list("role", flat=True)
        .first()
    )


def projects_for_user(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """Projects the user may see: all for staff, else those they are a member of."""
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def projects_led_by(*, user: AbstractBaseUser) -> QuerySet[Project]:
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user, memberships__role=Role.LEAD)
