"""REST API v1: projects, members, labels, items, import jobs, tokens and the caller.

Each method validates input with a small serializer, calls one service, and shapes the output.

Who gets what (see `projects/api/permissions.py`):
- anonymous: 401 everywhere;
- a project the caller is not a member of does not exist for them: 404, for the project and for
  everything under it, so an id never confirms that a project exists;
- a member without the role an action needs (a rater writing): 403;
- superusers are leads of every project; staff status alone grants nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import FileResponse, HttpResponseBase, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from projects.api import serializers as s
from projects.api.filters import ItemFilter
from projects.api.permissions import (
    IsProjectLead,
    IsProjectLeadOrReadOnlyMember,
    remember_project_role,
    request_project_role,
    request_user,
)
from projects.models import ApiToken, ImportJob, Item, Label, Membership, Project, Role
from projects.selectors import item_counts_by_status, projects_for_user_with_role
from projects.services.imports import import_job_create, import_job_retry
from projects.services.items import item_update
from projects.services.projects import (
    label_create,
    label_delete,
    label_update,
    membership_remove,
    membership_set,
    project_create,
    project_labels_set,
    project_update,
)
from projects.services.tokens import api_token_create, api_token_revoke

FILE_ACTIONS = ("image", "thumbnail")
NO_CONTENT = {204: OpenApiResponse(description="Done; no body.")}


def _valid(serializer_class: type[BaseSerializer[Any]], data: Any, **kwargs: Any) -> Any:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ProjectNestedMixin:
    """For views under /projects/{project_pk}/. The permission classes have already answered 404
    to a non-member, so the project is looked up by id alone."""

    project_lookup_kwarg = "project_pk"
    kwargs: dict[str, Any]
    request: Any

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = get_object_or_404(Project, pk=self.kwargs[self.project_lookup_kwarg])
        return self._project

    def caller_role(self) -> str | None:
        return request_project_role(self.request, int(self.kwargs[self.project_lookup_kwarg]))

    def is_schema_view(self) -> bool:
        return getattr(self, "swagger_fake_view", False)


# --- projects ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Projects I am a member of (superusers: all)"),
    retrieve=extend_schema(summary="A project with its labels and items counted by status"),
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
        summary="Delete a project and all its items (lead)", responses=NO_CONTENT
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
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ProjectSerializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        data = _valid(s.ProjectCreateInputSerializer, request.data)
        project = project_create(created_by=request_user(request), **data)
        return self._detail(self.get_queryset().get(pk=project.pk), status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: int) -> Response:
        return self._detail(self.get_object())

    def update(self, request: Request, pk: int, partial: bool = False) -> Response:
        project = self.get_object()
        data = _valid(s.ProjectInputSerializer, request.data, partial=partial)
        return self._detail(project_update(project=project, **data))

    def partial_update(self, request: Request, pk: int) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: int) -> Response:
        self.get_object().delete()  # one transaction: Django's cascade runs in one
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _detail(self, project: Project, code: int = status.HTTP_200_OK) -> Response:
        context = {"item_counts": item_counts_by_status(project=project)}
        return Response(s.ProjectDetailSerializer(project, context=context).data, status=code)


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
        data = _valid(s.MemberAddInputSerializer, request.data)
        membership = membership_set(project=self.get_project(), **data)
        return Response(s.MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.MemberSerializer(self.get_object()).data)

    def update(self, request: Request, project_pk: int, pk: int, partial: bool = False) -> Response:
        membership = self.get_object()
        data = _valid(s.MemberUpdateInputSerializer, request.data)
        membership = membership_set(project=self.get_project(), user=membership.user, **data)
        return Response(s.MemberSerializer(membership).data)

    def partial_update(self, request: Request, project_pk: int, pk: int) -> Response:
        return self.update(request, project_pk, pk, partial=True)

    def destroy(self, request: Request, project_pk: int, pk: int) -> Response:
        membership_remove(membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- labels ------------------------------------------------------------------------------------


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
    """The label schema is small and ordered, so its list is not paginated."""

    permission_classes = [IsAuthenticated, IsProjectLeadOrReadOnlyMember]
    serializer_class = s.LabelSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Label.objects.none()
        return Label.objects.filter(project_id=self.kwargs["project_pk"]).select_related("project")

    def list(self, request: Request, project_pk: int) -> Response:
        return Response(s.LabelSerializer(self.get_queryset(), many=True).data)

    def create(self, request: Request, project_pk: int) -> Response:
        data = _valid(s.LabelInputSerializer, request.data)
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
        specs = _valid(s.LabelInputSerializer, request.data, many=True)
        labels = project_labels_set(project=self.get_project(), labels=specs)
        return Response(s.LabelSerializer(labels, many=True).data)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.LabelSerializer(self.get_object()).data)

    def update(self, request: Request, project_pk: int, pk: int, partial: bool = False) -> Response:
        label = self.get_object()
        data = _valid(s.LabelUpdateInputSerializer, request.data)
        return Response(s.LabelSerializer(label_update(label=label, **data)).data)

    def partial_update(self, request: Request, project_pk: int, pk: int) -> Response:
        return self.update(request, project_pk, pk, partial=True)

    def destroy(self, request: Request, project_pk: int, pk: int) -> Response:
        label_delete(label=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- items -------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Items of the project, filtered, newest first, by cursor",
        responses=s.ItemLeadSerializer(many=True),
        description="Raters get the same items without status, counts, `is_gold` and "
        "`gold_value`, and may not filter by `is_gold` or `status`.",
    ),
    retrieve=extend_schema(summary="One item", responses=s.ItemLeadSerializer),
    partial_update=extend_schema(
        summary="Set an item's priority or gold answer (lead)",
        request=s.ItemUpdateInputSerializer,
        responses=s.ItemLeadSerializer,
    ),
)
class ItemViewSet(ProjectNestedMixin, viewsets.GenericViewSet[Item]):
    """Items are created by imports; members read them, leads set priority and gold answers.
    Gold answers (and which items are gold) are shown to leads only."""

    permission_classes = [IsAuthenticated, IsProjectLeadOrReadOnlyMember]
    serializer_class = s.ItemLeadSerializer
    filterset_class = ItemFilter

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Item.objects.none()
        return Item.objects.filter(project_id=self.kwargs["project_pk"]).select_related("image")

    def get_serializer_class(self) -> type[s.ItemSerializer]:
        if self.is_schema_view() or self.caller_role() == Role.LEAD:
            return s.ItemLeadSerializer
        return s.ItemSerializer

    def list(self, request: Request, project_pk: int) -> Response:
        lead_only = sorted({"is_gold", "status"} & set(request.query_params))
        if lead_only and self.caller_role() != Role.LEAD:
            raise exceptions.PermissionDenied(
                f"Only a lead of this project can filter by {' or '.join(lead_only)}."
            )
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def partial_update(self, request: Request, project_pk: int, pk: int) -> Response:
        item = self.get_object()
        data = _valid(s.ItemUpdateInputSerializer, request.data)
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
        responses={(200, "image/*"): OpenApiTypes.BINARY},
    )
    def image(self, request: Request, project_pk: int, pk: int) -> HttpResponseBase:
        return self._file(thumbnail=False)

    @extend_schema(
        summary="The item's thumbnail (PNG or JPEG)",
        responses={(200, "image/*"): OpenApiTypes.BINARY},
    )
    def thumbnail(self, request: Request, project_pk: int, pk: int) -> HttpResponseBase:
        return self._file(thumbnail=True)

    def _file(self, *, thumbnail: bool) -> HttpResponseBase:
        """Blobs are named by content hash, so the hash is a perfect ETag."""
        blob = self.get_object().image
        if blob is None:
            raise exceptions.NotFound("This item has no image.")
        etag = f'"{blob.sha256}{"-t" if thumbnail else ""}"'
        if self.request.headers.get("If-None-Match") == etag:
            response: HttpResponseBase = HttpResponseNotModified()
        else:
            try:
                response = FileResponse((blob.thumbnail if thumbnail else blob.file).open("rb"))
            except (FileNotFoundError, ValueError) as error:
                raise exceptions.NotFound("The image file is missing.") from error
        response["ETag"] = etag
        response["Cache-Control"] = "private, max-age=86400"
        return response


# --- import jobs -------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Import jobs of the project, newest first (lead)"),
    retrieve=extend_schema(summary="One import job: poll it for status and progress (lead)"),
    create=extend_schema(
        summary="Upload a file to import (lead); the work runs in the background",
        request={"multipart/form-data": s.ImportJobCreateInputSerializer},
        responses={201: s.ImportJobSerializer},
    ),
)
class ImportJobViewSet(ProjectNestedMixin, viewsets.GenericViewSet[ImportJob]):
    permission_classes = [IsAuthenticated, IsProjectLead]
    serializer_class = s.ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return ImportJob.objects.none()
        return ImportJob.objects.filter(project_id=self.kwargs["project_pk"]).select_related(
            "created_by"
        )

    def list(self, request: Request, project_pk: int) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ImportJobSerializer(page, many=True).data)

    def retrieve(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.ImportJobSerializer(self.get_object()).data)

    def create(self, request: Request, project_pk: int) -> Response:
        data = _valid(s.ImportJobCreateInputSerializer, request.data)
        job = import_job_create(
            project=self.get_project(), uploaded_file=data["file"],
            created_by=request_user(request), source="api", format=data["format"],
        )  # fmt: skip
        job.refresh_from_db()  # the task may already have run (in-process without Redis)
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Run a failed import again (lead)",
        request=None,
        responses=s.ImportJobSerializer,
    )
    def retry(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(s.ImportJobSerializer(import_job_retry(job=self.get_object())).data)


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
        data = _valid(s.ApiTokenCreateInputSerializer, request.data)
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
