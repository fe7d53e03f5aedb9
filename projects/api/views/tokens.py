"""API tokens: the caller's personal tokens, a project's pipeline tokens, and the caller."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.api import serializers as s
from projects.api.permissions import IsProjectLead, request_user
from projects.api.views.common import NO_CONTENT, ProjectNestedMixin, valid
from projects.models import ApiToken, Membership, TokenScope
from projects.services.tokens import (
    DEFAULT_PROJECT_SCOPES,
    api_token_create,
    api_token_revoke,
    project_token_create,
)

# --- tokens and the caller ---------------------------------------------------------------------


class NotWithApiToken(BasePermission):
    """A token cannot mint credentials (tokens, invitation links): a leaked one must not outlive
    its own revocation."""

    message = (
        "Sign in with a password to do this: a token cannot create tokens or invitation links."
    )

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not isinstance(request.auth, ApiToken)


@extend_schema_view(
    list=extend_schema(summary="My API tokens (never their secrets)"),
    retrieve=extend_schema(summary="One of my API tokens"),
    create=extend_schema(
        summary="Create an API token; the response holds its secret, shown this once",
        request=s.ApiTokenCreateInputSerializer,
        responses={201: s.ApiTokenCreatedSerializer},
    ),
    destroy=extend_schema(summary="Revoke one of my API tokens", responses=NO_CONTENT),
)
class ApiTokenViewSet(viewsets.GenericViewSet[ApiToken]):
    """The caller's own personal tokens; other users' tokens, and project tokens, are 404 here.
    Revoking keeps the row (its name and last use stay visible) and stops it from
    authenticating at once."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.ApiTokenSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user_id=request_user(self.request).pk, project=None)

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [IsAuthenticated(), NotWithApiToken()]
        return super().get_permissions()

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ApiTokenSerializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        data = valid(s.ApiTokenCreateInputSerializer, request.data)
        token, secret = api_token_create(user=request_user(request), name=data["name"])
        token.secret = secret  # type: ignore[attr-defined]
        return Response(s.ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: int) -> Response:
        return Response(s.ApiTokenSerializer(self.get_object()).data)

    def destroy(self, request: Request, pk: int) -> Response:
        api_token_revoke(token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Revoke one of my API tokens", request=None)
    def revoke(self, request: Request, pk: int) -> Response:
        return Response(s.ApiTokenSerializer(api_token_revoke(token=self.get_object())).data)


# --- a project's pipeline tokens ---------------------------------------------------------------


class ProjectTokenSerializer(s.ApiTokenSerializer):
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=TokenScope.choices), source="scope_list"
    )
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        source="user", slug_field="username", read_only=True
    )

    class Meta(s.ApiTokenSerializer.Meta):
        fields = [*s.ApiTokenSerializer.Meta.fields, "project", "scopes", "created_by"]
        read_only_fields = fields


class ProjectTokenCreatedSerializer(ProjectTokenSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Shown this once; only a hash of it is stored."
    )

    class Meta(ProjectTokenSerializer.Meta):
        fields = [*ProjectTokenSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class ProjectTokenCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=100, help_text="The pipeline that uses it.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=TokenScope.choices),
        default=list(DEFAULT_PROJECT_SCOPES),
        help_text="What the token may do; by default read items and dataset versions. "
        "'feedback:write' is planned.",
    )


@extend_schema_view(
    list=extend_schema(summary="The project's pipeline tokens (lead; never their secrets)"),
    retrieve=extend_schema(summary="One pipeline token (lead)"),
    create=extend_schema(
        summary="Create a pipeline token for this project (lead, signed in with a password); "
        "the response holds its secret, shown this once",
        request=ProjectTokenCreateInputSerializer,
        responses={201: ProjectTokenCreatedSerializer},
    ),
    destroy=extend_schema(summary="Revoke a pipeline token (lead)", responses=NO_CONTENT),
)
class ProjectTokenViewSet(ProjectNestedMixin, viewsets.GenericViewSet[ApiToken]):
    """Tokens that let a pipeline read this project's data, and nothing else: no other project,
    no writes, no labeling, no tokens. Any lead of the project sees and revokes them all."""

    permission_classes = [IsAuthenticated, IsProjectLead]
    serializer_class = ProjectTokenSerializer

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return ApiToken.objects.none()
        return ApiToken.objects.filter(project_id=self.kwargs["project_pk"]).select_related("user")

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [*super().get_permissions(), NotWithApiToken()]
        return super().get_permissions()

    def list(self, request: Request, project_pk: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProjectTokenSerializer(page, many=True).data)

    def create(self, request: Request, project_pk: int) -> Response:
        data = valid(ProjectTokenCreateInputSerializer, request.data)
        token, secret = project_token_create(
            project=self.get_project(), created_by=request_user(request), **data
        )
        token.secret = secret  # type: ignore[attr-defined]
        body = ProjectTokenCreatedSerializer(token).data
        return Response(body, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(ProjectTokenSerializer(self.get_object()).data)

    def destroy(self, request: Request, project_pk: int, pk: int) -> Response:
        api_token_revoke(token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="The caller and their memberships", responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        user = request_user(request)
        memberships = (
            Membership.objects.filter(user_id=user.pk).select_related("project").order_by("project")
        )
        context = {"request": request, "memberships": memberships}
        return Response(s.MeSerializer(user, context=context).data)
