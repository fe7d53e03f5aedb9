"""A project's members over the API. Here rather than in projects: removing a member gives back
the items they hold, and a member who comes back gets their labeled counts back."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from labeling.members import membership_remove, membership_set
from projects.api import serializers as s
from projects.api.permissions import (
    IsProjectLeadOrReadOnlyMember,
)
from projects.api.views.common import NO_CONTENT, ProjectNestedMixin, valid
from projects.models import Membership

# --- members -----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Members of the project with their roles"),
    retrieve=extend_schema(summary="One membership"),
    create=extend_schema(
        summary="Add a member by username or user id, or change their role (lead)",
        request=s.MemberAddInputSerializer,
        responses={201: s.MemberSerializer},
    ),
    update=extend_schema(
        summary="Change a member's role (lead)",
        request=s.MemberUpdateInputSerializer,
        responses=s.MemberSerializer,
    ),
    partial_update=extend_schema(
        summary="Change a member's role (lead)",
        request=s.MemberUpdateInputSerializer,
        responses=s.MemberSerializer,
    ),
    destroy=extend_schema(
        summary="Remove a member (lead); a project keeps at least one lead", responses=NO_CONTENT
    ),
)
class MemberViewSet(ProjectNestedMixin, viewsets.GenericViewSet[Membership]):
    permission_classes = [IsAuthenticated, IsProjectLeadOrReadOnlyMember]
    serializer_class = s.MemberSerializer

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Membership.objects.none()
        return Membership.objects.filter(project_id=self.kwargs["project_pk"]).select_related(
            "user"
        )

    def list(self, request: Request, project_pk: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.MemberSerializer(page, many=True).data)

    def create(self, request: Request, project_pk: int) -> Response:
        data = valid(s.MemberAddInputSerializer, request.data)
        membership = membership_set(project=self.get_project(), **data)
        return Response(s.MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.MemberSerializer(self.get_object()).data)

    def update(self, request: Request, project_pk: int, pk: int, partial: bool = False) -> Response:
        membership = self.get_object()
        data = valid(s.MemberUpdateInputSerializer, request.data, partial=partial)
        if data:  # PATCH {} changes nothing, as for every other resource
            membership = membership_set(project=self.get_project(), user=membership.user, **data)
        return Response(s.MemberSerializer(membership).data)

    def partial_update(self, request: Request, project_pk: int, pk: int) -> Response:
        return self.update(request, project_pk, pk, partial=True)

    def destroy(self, request: Request, project_pk: int, pk: int) -> Response:
        membership_remove(membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
