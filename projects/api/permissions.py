"""Permission classes by project role. Views that are nested under a project set
`project_lookup_kwarg` (default "project_pk"); object-level checks read `obj.project_id`."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from projects.models import Role
from projects.selectors import project_role


def _project_id(view: APIView, obj: Any = None) -> int | None:
    if obj is not None:
        return getattr(obj, "project_id", None) or getattr(obj, "pk", None)
    kwarg = getattr(view, "project_lookup_kwarg", "project_pk")
    value = view.kwargs.get(kwarg)
    return int(value) if value is not None and str(value).isdigit() else None


def _role(request: Request, view: APIView, obj: Any = None) -> str | None:
    project_id = _project_id(view, obj)
    if project_id is None:
        return None
    cache = request.__dict__.setdefault("_accord_roles", {})
    if project_id not in cache:
        cache[project_id] = project_role(project=project_id, user=request.user)
    return cache[project_id]


class IsProjectMember(BasePermission):
    """Any member (lead or rater) of the project in the URL or of the object."""

    message = "You are not a member of this project."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if _project_id(view) is None:
            return bool(request.user and request.user.is_authenticated)
        return _role(request, view) is not None

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return _role(request, view, obj) is not None


class IsProjectLead(BasePermission):
    """Leads of the project (and staff)."""

    message = "Only a lead of this project can do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if _project_id(view) is None:
            return bool(request.user and request.user.is_authenticated)
        return _role(request, view) == Role.LEAD

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return _role(request, view, obj) == Role.LEAD


class IsProjectLeadOrReadOnlyMember(BasePermission):
    """Members read; leads write."""

    message = "Only a lead of this project can change it."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if _project_id(view) is None:
            return bool(request.user and request.user.is_authenticated)
        role = _role(request, view)
        return role == Role.LEAD or (role is not None and request.method in SAFE_METHODS)

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        role = _role(request, view, obj)
        return role == Role.LEAD or (role is not None and request.method in SAFE_METHODS)
