"""A project's invitation links: a lead creates, lists and revokes them. (People accept them on
the link's page, signed in or signing up: labeling.views.invitations.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from projects.api.permissions import IsProjectLead, request_user
from projects.api.views.common import NO_CONTENT, ProjectNestedMixin, valid
from projects.api.views.tokens import NotWithApiToken
from projects.models import Invitation, InvitationAcceptance, Role
from projects.services.invitations import (
    DEFAULT_DAYS,
    MAX_DAYS,
    MAX_USES_LIMIT,
    invitation_create,
    invitation_revoke,
)


class AcceptanceSerializer(serializers.ModelSerializer[InvitationAcceptance]):
    user: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = InvitationAcceptance
        fields = ["user", "accepted_at", "created_account"]
        read_only_fields = fields


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    state = serializers.SerializerMethodField(help_text="active, revoked, used or expired.")
    uses_left = serializers.IntegerField(read_only=True)
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    acceptances = AcceptanceSerializer(many=True, read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id", "project", "role", "note", "prefix", "max_uses", "use_count", "uses_left",
            "expires_at", "revoked_at", "state", "created_by", "created_at", "acceptances",
        ]  # fmt: skip
        read_only_fields = fields

    def get_state(self, invitation: Invitation) -> str:
        return invitation.state()


class InvitationCreatedSerializer(InvitationSerializer):
    url = serializers.CharField(read_only=True, help_text="The link; shown this once.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "url"]
        read_only_fields = fields


class InvitationCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    role = serializers.ChoiceField(choices=Role.choices, default=Role.RATER)
    max_uses = serializers.IntegerField(
        min_value=1, max_value=MAX_USES_LIMIT, default=1, help_text="How many people may join."
    )
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=MAX_DAYS, default=DEFAULT_DAYS
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


@extend_schema_view(
    list=extend_schema(summary="The project's invitation links, with who joined (lead)"),
    retrieve=extend_schema(summary="One invitation link (lead)"),
    create=extend_schema(
        summary="Create an invitation link (lead, signed in with a password); the response "
        "holds the link, shown this once",
        request=InvitationCreateInputSerializer,
        responses={201: InvitationCreatedSerializer},
    ),
    destroy=extend_schema(
        summary="Revoke an invitation link (lead); who joined stays", responses=NO_CONTENT
    ),
)
class InvitationViewSet(ProjectNestedMixin, viewsets.GenericViewSet[Invitation]):
    permission_classes = [IsAuthenticated, IsProjectLead]
    serializer_class = InvitationSerializer

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Invitation.objects.none()
        return (
            Invitation.objects.filter(project_id=self.kwargs["project_pk"])
            .select_related("created_by")
            .prefetch_related("acceptances__user")
        )

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [*super().get_permissions(), NotWithApiToken()]
        return super().get_permissions()

    def list(self, request: Request, project_pk: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(InvitationSerializer(page, many=True).data)

    def create(self, request: Request, project_pk: int) -> Response:
        data = valid(InvitationCreateInputSerializer, request.data)
        invitation, secret = invitation_create(
            project=self.get_project(), created_by=request_user(request), **data
        )
        invitation.url = request.build_absolute_uri(  # type: ignore[attr-defined]
            reverse("invitation", kwargs={"secret": secret})
        )
        body = InvitationCreatedSerializer(invitation).data
        return Response(body, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(InvitationSerializer(self.get_object()).data)

    def destroy(self, request: Request, project_pk: int, pk: int) -> Response:
        invitation_revoke(invitation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
