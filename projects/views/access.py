"""What every page of a project starts with: the project in the URL and the caller's role.

A non-member gets 404 (they must not learn that the project exists) and a rater gets 403 on a
lead's page. Forms validate; each write is one call to a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import BaseForm
from django.http import Http404, HttpRequest

from projects.models import Project, Role
from projects.selectors import project_role

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    class AuthenticatedRequest(HttpRequest):
        """What a view behind @login_required receives."""

        user: User
else:
    AuthenticatedRequest = HttpRequest


# --- access ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: str

    @property
    def is_lead(self) -> bool:
        return self.role == Role.LEAD


def project_for(request: HttpRequest, pk: int, *, lead: bool = True) -> ProjectAccess:
    """The project in the URL and the user's role in it.

    Raises 404 for a missing project and for a non-member alike, so that a non-member cannot
    learn that a project exists; raises 403 for a rater on a lead's page.
    """
    project = Project.objects.filter(pk=pk).first()
    role = project_role(project=project, user=request.user) if project else None
    if project is None or role is None:
        raise Http404("No such project.")
    if lead and role != Role.LEAD:
        raise PermissionDenied("Only a lead of this project can open this page.")
    return ProjectAccess(project=project, role=role)


def apply_service_error(form: BaseForm, error: ValidationError) -> list[str]:
    """Put a service's ValidationError on the form's fields where it names one; return the
    messages that belong to no field of the form."""
    leftover: list[str] = []
    if hasattr(error, "error_dict"):
        for name, errors in error.message_dict.items():
            if name in form.fields:
                form.add_error(name, errors)
            else:
                leftover.extend(errors)
    else:
        leftover.extend(error.messages)
    return leftover
