"""The admin site: open to staff, as Django has it, and to every lead of a project, who resolves
the project's conflicts there (agreement/admin) and sees only what they lead (core/admin)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from core.lockout import LockoutAdminAuthenticationForm
from projects.selectors import projects_led_by


def may_enter(request: HttpRequest) -> bool:
    # projects.admin registers its models on this site as it is imported: imported here, late.
    from projects.admin import led_project_ids

    user = request.user
    return bool(user.is_active and (user.is_staff or led_project_ids(request)))


class LeadAuthenticationForm(LockoutAdminAuthenticationForm):
    """The admin's sign-in form (with the sign-in lockout), letting in leads as well as staff."""

    def confirm_login_allowed(self, user: Any) -> None:
        if not user.is_active or not (user.is_staff or projects_led_by(user=user).exists()):
            raise ValidationError(
                "This account neither leads a project nor is staff: the admin is for leads.",
                code="invalid_login",
            )


class AccordAdminSite(admin.AdminSite):
    site_header = "Accord administration"
    site_title = "Accord admin"
    login_form = LeadAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_enter(request)
