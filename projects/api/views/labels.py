"""A project's label schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.pagination import DefaultCursorPagination
from projects.api import serializers as s
from projects.api.permissions import (
    IsProjectLeadOrReadOnlyMember,
)
from projects.api.views.common import NO_CONTENT, ProjectNestedMixin, valid
from projects.models import Label, TokenScope
from projects.services.projects import (
    label_create,
    label_delete,
    label_update,
    project_labels_set,
)

# --- labels ------------------------------------------------------------------------------------


class LabelPagination(DefaultCursorPagination):
    """In schema order; labels that share a position follow by id."""

    ordering = ("position", "id")


@extend_schema_view(
    list=extend_schema(summary="The project's label schema, in order"),
    retrieve=extend_schema(summary="One label"),
    create=extend_schema(
        summary="Add a label at the end of the schema (lead)",
        request=s.LabelInputSerializer,
        responses={201: s.LabelSerializer},
    ),
    update=extend_schema(
        summary="Change a label's display name, colour, hotkey or position (lead)",
        request=s.LabelUpdateInputSerializer,
        responses=s.LabelSerializer,
    ),
    partial_update=extend_schema(
        summary="Change a label's display name, colour, hotkey or position (lead)",
        request=s.LabelUpdateInputSerializer,
        responses=s.LabelSerializer,
    ),
    destroy=extend_schema(summary="Remove a label from the schema (lead)", responses=NO_CONTENT),
)
class LabelViewSet(ProjectNestedMixin, viewsets.GenericViewSet[Label]):
    """A cursor page like every list of the API, though one page (100) holds most schemas."""

    permission_classes = [IsAuthenticated, IsProjectLeadOrReadOnlyMember]
    # A pipeline reading items needs the schema their labels come from.
    project_token_scopes = {"GET": TokenScope.ITEMS_READ}
    serializer_class = s.LabelSerializer

    @property
    def pagination_class(self) -> type[LabelPagination] | None:  # type: ignore[override]
        """Pages for the list; PUT on the list answers the whole new schema."""
        return None if getattr(self, "action", None) == "replace" else LabelPagination

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Label.objects.none()
        return Label.objects.filter(project_id=self.kwargs["project_pk"]).select_related("project")

    def list(self, request: Request, project_pk: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.LabelSerializer(page, many=True).data)

    def create(self, request: Request, project_pk: int) -> Response:
        data = valid(s.LabelInputSerializer, request.data)
        label = label_create(project=self.get_project(), **data)
        return Response(s.LabelSerializer(label).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="projects_labels_replace",
        summary="Replace the whole label schema (lead); labels are matched by value",
        request=s.LabelInputSerializer(many=True),
        responses=s.LabelSerializer(many=True),
    )
    def replace(self, request: Request, project_pk: int) -> Response:
        if not isinstance(request.data, list):
            raise exceptions.ValidationError("Send the whole schema: a JSON list of labels.")
        specs = valid(s.LabelInputSerializer, request.data, many=True)
        labels = project_labels_set(project=self.get_project(), labels=specs)
        return Response(s.LabelSerializer(labels, many=True).data)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.LabelSerializer(self.get_object()).data)

    def update(self, request: Request, project_pk: int, pk: int, partial: bool = False) -> Response:
        label = self.get_object()
        data = valid(s.LabelUpdateInputSerializer, request.data)
        return Response(s.LabelSerializer(label_update(label=label, **data)).data)

    def partial_update(self, request: Request, project_pk: int, pk: int) -> Response:
        return self.update(request, project_pk, pk, partial=True)

    def destroy(self, request: Request, project_pk: int, pk: int) -> Response:
        label_delete(label=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
