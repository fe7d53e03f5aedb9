"""A project's items and their images."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from core.http import immutable_file_response
from projects.api import serializers as s
from projects.api.filters import ItemFilter
from projects.api.permissions import PIPELINE, IsProjectLeadOrReadOnlyMember
from projects.api.views.common import ProjectNestedMixin, valid
from projects.models import Item, Role, TokenScope
from projects.services.items import item_update

FILE_ACTIONS = ("image", "thumbnail")
NOT_MODIFIED = OpenApiResponse(
    description="If-None-Match names the current ETag (weak tags, lists and * count too)."
)


# --- items -------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Items of the project, filtered, newest first, by cursor",
        responses=s.ItemAnyRoleSerializer(many=True),
        description="Raters get the same items without status, counts, `is_gold` and "
        "`gold_value`, and may not filter by `is_gold` or `status`.",
    ),
    retrieve=extend_schema(summary="One item", responses=s.ItemAnyRoleSerializer),
    partial_update=extend_schema(
        summary="Set an item's priority or gold answer (lead)",
        request=s.ItemUpdateInputSerializer,
        responses=s.ItemLeadSerializer,
    ),
)
class ItemViewSet(ProjectNestedMixin, viewsets.GenericViewSet[Item]):
    """Items are created by imports; members read them, leads set priority and gold answers.
    Gold answers (and which items are gold) are shown to leads only, and to the project's
    pipelines (project tokens), which read what a lead reads."""

    permission_classes = [IsAuthenticated, IsProjectLeadOrReadOnlyMember]
    project_token_scopes = {"GET": TokenScope.ITEMS_READ}
    serializer_class = s.ItemLeadSerializer
    filterset_class = ItemFilter

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Item.objects.none()
        return Item.objects.filter(project_id=self.kwargs["project_pk"]).select_related("image")

    def get_serializer_class(self) -> type[s.ItemSerializer]:
        if self.is_schema_view() or self.caller_role() in (Role.LEAD, PIPELINE):
            return s.ItemLeadSerializer
        return s.ItemSerializer

    def list(self, request: Request, project_pk: int) -> Response:
        lead_only = sorted({"is_gold", "status"} & set(request.query_params))
        if lead_only and self.caller_role() not in (Role.LEAD, PIPELINE):
            raise exceptions.PermissionDenied(
                f"Only a lead of this project can filter by {' or '.join(lead_only)}."
            )
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def partial_update(self, request: Request, project_pk: int, pk: int) -> Response:
        item = self.get_object()
        data = valid(s.ItemUpdateInputSerializer, request.data)
        item.project = self.get_project()
        return Response(s.ItemLeadSerializer(item_update(item=item, **data)).data)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        if self.action in FILE_ACTIONS:
            # A file bypasses rendering, whatever the client accepts; only an error is rendered,
            # and always as JSON.
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        summary="The item's image, as stored",
        responses={(200, "image/*"): OpenApiTypes.BINARY, 304: NOT_MODIFIED},
    )
    def image(self, request: Request, project_pk: int, pk: int) -> HttpResponseBase:
        return self._file(thumbnail=False)

    @extend_schema(
        summary="The item's thumbnail (PNG or JPEG)",
        responses={(200, "image/*"): OpenApiTypes.BINARY, 304: NOT_MODIFIED},
    )
    def thumbnail(self, request: Request, project_pk: int, pk: int) -> HttpResponseBase:
        return self._file(thumbnail=True)

    def _file(self, *, thumbnail: bool) -> HttpResponseBase:
        """Blobs are named by content hash, so the hash is a perfect ETag."""
        blob = self.get_object().image
        if blob is None:
            raise exceptions.NotFound("This item has no image.")
        etag = f'"{blob.sha256}{"-t" if thumbnail else ""}"'
        stored = blob.thumbnail if thumbnail else blob.file
        try:
            return immutable_file_response(
                self.request, etag=etag, open_file=lambda: stored.open("rb")
            )
        except (FileNotFoundError, ValueError) as error:
            raise exceptions.NotFound("The image file is missing.") from error
