"""Who reads a project's raw labels: its leads, and its pipelines (project tokens) where the view
grants their scope (`project_token_scopes`, enforced when the token is read). A rater sees only
their own labels, never the others'."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from projects.api.permissions import (
    PIPELINE,
    PROJECT_NOT_FOUND,
    request_project_role,
    url_project_id,
)
from projects.models import Role

if TYPE_CHECKING:
    from rest_framework.views import APIView


class IsProjectLeadOrPipeline(BasePermission):
    """Leads of the project in the URL (and superusers), and its project tokens; 404 for a
    non-member, as every project route answers."""

    message = "Only a lead of this project, or one of its pipeline tokens, can read this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not request.user.is_authenticated:
            return False
        project_id = url_project_id(view)
        assert project_id is not None, "for routes under /projects/{project_pk}/"
        role = request_project_role(request, project_id)
        if role is None:
            raise NotFound(PROJECT_NOT_FOUND)
        return role in (Role.LEAD, PIPELINE)
