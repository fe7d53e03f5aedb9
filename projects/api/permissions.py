"""Permission classes by project role.

Views nested under a project take its id from the URL kwarg `project_lookup_kwarg` (default
"project_pk"); object-level checks read the project of the object (`obj.project_id`, or the
project itself).

404 or 403: a project the caller is not a member of does not exist for them, so every check
answers 404 there (it never confirms that a project id exists). A member who lacks the role for
an action gets 403 with a message naming the role. Anonymous callers get 401.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from projects.models import Project, Role
from projects.selectors import project_with_role

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from rest_framework.views import APIView

PROJECT_NOT_FOUND = "No project with this id, or you are not a member of it."


def _project_id(view: APIView, obj: Any = None) -> int | None:
    if obj is not None:
        if isinstance(obj, Project):
            return obj.pk
        return getattr(obj, "project_id", None)
    return url_project_id(view)


def url_project_id(view: APIView | None) -> int | None:
    """The id of the project the view's URL names, if any."""
    if view is None:
        return None
    kwarg = getattr(view, "project_lookup_kwarg", "project_pk")
    value = getattr(view, "kwargs", {}).get(kwarg)
    return int(value) if value is not None and str(value).isdigit() else None


def request_user(request: Request) -> User:
    """The signed-in user, for views whose permission classes have already refused anonymous
    callers (IsAuthenticated and every project role check do)."""
    user = request.user
    assert not isinstance(user, AnonymousUser)
    return user


def remember_project(
    request: Request, project_id: int, project: Project | None, role: str | None
) -> None:
    """Record the project and the caller's role, read together with the caller's credentials
    (projects/api/auth.py), so that the permission check and the view need no query."""
    request.__dict__.setdefault("_accord_roles", {})[project_id] = role
    request.__dict__.setdefault("_accord_projects", {})[project_id] = project


def request_project_role(request: Request, project_id: int) -> str | None:
    """The caller's role in the project, looked up once per request, together with the project
    itself (`request_project`)."""
    roles: dict[int, str | None] = request.__dict__.setdefault("_accord_roles", {})
    if project_id not in roles:
        project, roles[project_id] = project_with_role(project_id=project_id, user=request.user)
        request.__dict__.setdefault("_accord_projects", {})[project_id] = project
    return roles[project_id]


def request_project(request: Request, project_id: int) -> Project | None:
    """The project as read with the caller's role (None when there is no such project); reads it
    now if no permission check has yet."""
    projects: dict[int, Project | None] = request.__dict__.setdefault("_accord_projects", {})
    if project_id not in projects:
        projects[project_id] = project_with_role(project_id=project_id, user=request.user)[0]
    return projects[project_id]


def remember_project_role(request: Request, project_id: int, role: str | None) -> None:
    """Record a role the view already read (e.g. annotated on the row), saving the lookup."""
    request.__dict__.setdefault("_accord_roles", {}).setdefault(project_id, role)


def _role(request: Request, view: APIView, obj: Any = None) -> str | None:
    """The caller's role in the project of the URL or object; raises 404 for a non-member."""
    project_id = _project_id(view, obj)
    if project_id is None:
        return None
    role = request_project_role(request, project_id)
    if role is None and request.user.is_authenticated:
        raise NotFound(PROJECT_NOT_FOUND)
    return role


def _outside_project(request: Request, view: APIView) -> bool:
    return _project_id(view) is None


class IsProjectMember(BasePermission):
    """Any member (lead or rater) of the project in the URL or of the object."""

    message = "You are not a member of this project."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not request.user.is_authenticated:
            return False
        return _outside_project(request, view) or _role(request, view) is not None

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return _role(request, view, obj) is not None


class IsProjectLead(BasePermission):
    """Leads of the project (and superusers)."""

    message = "Only a lead of this project can do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not request.user.is_authenticated:
            return False
        return _outside_project(request, view) or _role(request, view) == Role.LEAD

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return _role(request, view, obj) == Role.LEAD


class IsProjectLeadOrReadOnlyMember(BasePermission):
    """Members read; leads write."""

    message = "Only a lead of this project can change it."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not request.user.is_authenticated:
            return False
        if _outside_project(request, view):
            return True
        role = _role(request, view)
        return role == Role.LEAD or (role is not None and request.method in SAFE_METHODS)

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        role = _role(request, view, obj)
        return role == Role.LEAD or (role is not None and request.method in SAFE_METHODS)
