"""Projects: list, create, read, change, archive, delete.

A project with annotations is archived, not deleted: DELETE answers 409 (`project_has_annotations`)
and names the archive route; an archived project is read-only (409 `project_archived` on every
change) and leaves the list unless `?archived=true` (or `all`) asks for it."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.strict import StrictJsonInput
from projects.api import serializers as s
from projects.api.permissions import (
    IsProjectLeadOrReadOnlyMember,
    remember_project_role,
    request_user,
)
from projects.api.views.common import NO_CONTENT, valid
from projects.models import Project
from projects.selectors import (
    ArchivedFilter,
    item_counts_by_status,
    projects_by_archived,
    projects_for_user_with_role,
)
from projects.services.archive import (
    ProjectHasAnnotations,
    project_archive,
    project_delete,
    project_unarchive,
)
from projects.services.projects import (
    project_create,
    project_update,
)


class ProjectListQuerySerializer(StrictJsonInput, serializers.Serializer[dict[str, str]]):
    archived = serializers.ChoiceField(
        choices=ArchivedFilter.CHOICES, default=ArchivedFilter.ACTIVE,
        help_text="Archived projects are left out unless asked for: true lists only them, "
        "all lists every project.",
    )  # fmt: skip


# --- projects ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Projects I am a member of (superusers: all), archived ones left out",
        parameters=[ProjectListQuerySerializer],
    ),
    retrieve=extend_schema(
        summary="A project with its labels and items counted by status",
        responses=s.ProjectDetailSerializer,
    ),
    create=extend_schema(
        summary="Create a project; the caller becomes its lead",
        request=s.ProjectCreateInputSerializer,
        responses={201: s.ProjectDetailSerializer},
    ),
    update=extend_schema(
        summary="Change a project's settings (lead)",
        request=s.ProjectInputSerializer,
        responses=s.ProjectDetailSerializer,
    ),
    partial_update=extend_schema(
        summary="Change some of a project's settings (lead)",
        request=s.ProjectInputSerializer,
        responses=s.ProjectDetailSerializer,
    ),
    destroy=extend_schema(
        summary="Delete a project nobody has labeled in yet, with all its items (lead); "
        "a project with annotations answers 409: archive it instead",
        responses=NO_CONTENT,
    ),
    archive=extend_schema(
        summary="Archive a project (lead): read-only, out of the lists, nothing lost",
        request=None,
        responses=s.ProjectDetailSerializer,
    ),
    unarchive=extend_schema(
        summary="Unarchive a project (lead)", request=None, responses=s.ProjectDetailSerializer
    ),
)
class ProjectViewSet(viewsets.GenericViewSet[Project]):
    """Labels change through /projects/{id}/labels/, members through /projects/{id}/members/."""

    permission_classes = [IsAuthenticated, IsProjectLeadOrReadOnlyMember]
    serializer_class = s.ProjectSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return projects_for_user_with_role(user=self.request.user)

    def check_object_permissions(self, request: Request, obj: Any) -> None:
        # The row carries the caller's role (`my_role`): the permission check needs no query.
        remember_project_role(request, obj.pk, obj.my_role)
        super().check_object_permissions(request, obj)

    def list(self, request: Request) -> Response:
        query = valid(ProjectListQuerySerializer, request.query_params)
        page = self.paginate_queryset(
            projects_by_archived(self.get_queryset(), archived=query["archived"])
        )
        return self.get_paginated_response(s.ProjectSerializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        data = valid(s.ProjectCreateInputSerializer, request.data)
        project = project_create(created_by=request_user(request), **data)
        return self._detail(self.get_queryset().get(pk=project.pk), status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: int) -> Response:
        return self._detail(self.get_object())

    def update(self, request: Request, pk: int, partial: bool = False) -> Response:
        project = self.get_object()
        data = valid(s.ProjectInputSerializer, request.data, partial=partial)
        return self._detail(project_update(project=project, **data))

    def partial_update(self, request: Request, pk: int) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: int) -> Response:
        try:
            project_delete(project=self.get_object())
        except ProjectHasAnnotations as error:
            route = reverse("api-project-archive", kwargs={"pk": pk})
            raise ProjectHasAnnotations(f"{error.messages[0]} (POST {route}).") from error
        return Response(status=status.HTTP_204_NO_CONTENT)

    def archive(self, request: Request, pk: int) -> Response:
        return self._detail(project_archive(project=self.get_object()))

    def unarchive(self, request: Request, pk: int) -> Response:
        return self._detail(project_unarchive(project=self.get_object()))

    def _detail(self, project: Project, code: int = status.HTTP_200_OK) -> Response:
        context = {"item_counts": item_counts_by_status(project=project)}
        return Response(s.ProjectDetailSerializer(project, context=context).data, status=code)
