"""The caller's API tokens, and the caller."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.api import serializers as s
from projects.api.permissions import (
    request_user,
)
from projects.api.views.common import NO_CONTENT, valid
from projects.models import ApiToken, Membership
from projects.services.tokens import api_token_create, api_token_revoke

# --- tokens and the caller ---------------------------------------------------------------------


class NotWithApiToken(BasePermission):
    """A token cannot mint tokens: a leaked one must not outlive its own revocation."""

    message = "Sign in with a password to create API tokens; a token cannot create tokens."

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
    """The caller's own tokens; other users' tokens are 404. Revoking keeps the row (its name
    and last use stay visible) and stops it from authenticating at once."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.ApiTokenSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user_id=request_user(self.request).pk)

    def get_permissions(self) -> Sequence[Any]:
        if self.action == "create":
            return [IsAuthenticated(), NotWithApiToken()]
        return super().get_permissions()

    def list(self, request: Request) -> Response:
        return Response(s.ApiTokenSerializer(self.get_queryset(), many=True).data)

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
