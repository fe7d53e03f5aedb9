"""Permission classes by project role.

Views nested under a project take its id from the URL kwarg `project_lookup_kwarg` (default
"project_pk"); object-level checks read the project of the object (`obj.project_id`, or the
project itself).

404 or 403: a project the caller is not a member of does not exist for them, so every check
answers 404 there (it never confirms that a project id exists). A member who lacks the role for
an action gets 403 with a message naming the role. Anonymous callers get 401.

Project tokens (a pipeline's) act as no person: `PipelineUser`, with the role PIPELINE in their
own project only. An endpoint is closed to them unless its view names, per HTTP method, the
scope a project token needs there (`project_token_scopes`); `project_token_check` enforces it
when the token is read, before any permission class runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from projects.models import ApiToken, Project, Role
from projects.selectors import project_with_role

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from rest_framework.views import APIView

PROJECT_NOT_FOUND = "No project with this id, or you are not a member of it."
# The role a project token acts with in its project: it reads (where its scopes allow), and
# passes no check that asks for a member or a lead.
PIPELINE = "pipeline"
NOT_FOR_PROJECT_TOKENS = (
    "A project token reads its own project's data within its scopes and can do nothing else; "
    "this needs a person's credentials."
)


class PipelineUser(AnonymousUser):
    """Who a project token acts as: no person, no membership. Authenticated (DRF lets it in),
    but every lookup by user finds nothing, and `request_user` refuses it."""

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.username = f"project token {token.prefix}…"  # type: ignore[assignment]

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    @property
    def is_anonymous(self) -> bool:  # type: ignore[override]
        return False


def project_token_check(token: ApiToken, view: APIView | None, method: str) -> None:
    """Let a project token through only to an endpoint that grants its scope for this method,
    in its own project: 403 where the endpoint is closed to project tokens or the token lacks
    the scope, 404 under another project (which does not exist for it)."""
    scopes: dict[str, str] = getattr(view, "project_token_scopes", {})
    needed = scopes.get("GET" if method == "HEAD" else method)
    if needed is None:
        raise PermissionDenied(NOT_FOR_PROJECT_TOKENS)
    if url_project_id(view) != token.project_id:
        raise NotFound(PROJECT_NOT_FOUND)
    if needed not in token.scope_list:
        raise PermissionDenied(f"This project token lacks the scope '{needed}'.")


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
    callers (IsAuthenticated and every project role check do). A project token is no user:
    refused here too, should an endpoint that needs a person ever let one through."""
    user = request.user
    if isinstance(user, PipelineUser):
        raise PermissionDenied(NOT_FOR_PROJECT_TOKENS)
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
    """Any member (lead or rater) of the project in the URL or of the object; a project token
    is no member."""

    message = "You are not a member of this project."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not request.user.is_authenticated:
            return False
        return _outside_project(request, view) or _role(request, view) in Role.values

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        return _role(request, view, obj) in Role.values


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
    """Members (and a project token, where its scopes allow) read; leads write."""

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
