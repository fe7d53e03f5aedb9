"""The agreement API, under /api/v1/projects/{project_pk}/: the lead's conflict queue and their
decisions on it, and the project's raw labels and per-item agreement for leads and pipelines.
One view per operation, each a few lines around one selector or service."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from agreement.api import examples
from agreement.api import serializers as s
from agreement.api.filters import AnnotationFilter, ConflictFilter, ItemAgreementFilter
from agreement.api.pagination import ConflictQueuePagination
from agreement.api.permissions import IsProjectLeadOrPipeline
from agreement.models import Conflict, ItemAgreement
from agreement.selectors import (
    ConflictDetail,
    conflict_detail,
    conflict_queue,
    item_agreements,
    project_annotations,
)
from agreement.services.conflicts import (
    conflict_mark_ambiguous,
    conflict_more_raters,
    conflict_next,
    conflict_reopen,
    conflict_resolve,
)
from core.api.pagination import DefaultCursorPagination
from core.api.schema import ErrorSerializer
from labeling.models import Annotation
from projects.api.permissions import (
    PROJECT_NOT_FOUND,
    IsProjectLead,
    request_project,
    request_user,
)
from projects.api.views.common import valid
from projects.models import Project, TokenScope

STALE = OpenApiResponse(
    ErrorSerializer,
    description="The conflict's state does not allow this now (another lead decided first, or "
    "the raters' labels settled it): `conflict`. Or the project is archived: "
    "`project_archived`.",
)


class _ProjectView(generics.GenericAPIView[Any]):
    permission_classes = [IsAuthenticated, IsProjectLead]

    def project(self) -> Project:
        project = request_project(self.request, int(self.kwargs["project_pk"]))
        if project is None:
            raise exceptions.NotFound(PROJECT_NOT_FOUND)
        return project

    def is_schema_view(self) -> bool:
        return getattr(self, "swagger_fake_view", False)


# --- conflicts ----------------------------------------------------------------------------------


class ConflictListView(_ProjectView, generics.ListAPIView[Conflict]):
    serializer_class = s.ConflictSerializer
    filterset_class = ConflictFilter
    pagination_class = ConflictQueuePagination

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Conflict.objects.none()
        return conflict_queue(project_id=int(self.kwargs["project_pk"]))

    @extend_schema(
        summary="The project's conflicts, lowest agreement first (lead)",
        description="Every status unless `status` says which; those with no agreement figure "
        "yet (fewer than two labels) come last, ties by id.",
        examples=examples.CONFLICT_LIST,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)


class _ConflictView(_ProjectView):
    def conflict(self) -> Conflict:
        return get_object_or_404(
            conflict_queue(project_id=int(self.kwargs["project_pk"])),
            pk=self.kwargs["conflict_id"],
        )

    def detail(self) -> ConflictDetail:
        """The conflict as it is now (read afresh after a decision), with its labels, decisions
        and history."""
        return conflict_detail(conflict=self.conflict(), label_kind=self.project().label_kind)


class ConflictDetailView(_ConflictView):
    @extend_schema(
        summary="One conflict with its labels, decisions and history (lead)",
        responses=s.ConflictDetailSerializer,
        examples=examples.CONFLICT_DETAIL_EXAMPLES,
    )
    def get(self, request: Request, project_pk: int, conflict_id: int) -> Response:
        return Response(s.ConflictDetailSerializer(self.detail()).data)


class ConflictResolveView(_ConflictView):
    @extend_schema(
        summary="Decide a conflict: choose the label, ask for one more rater, or mark it "
        "ambiguous (lead)",
        description="`label` makes `value` the item's label of record (raters can no longer "
        "change theirs); `more_raters` sends the item back to the queue with one more slot "
        "(open conflicts only); `ambiguous` leaves the item without a label, out of datasets. "
        "Answers the conflict as it is now and the next open one.",
        request=s.ResolveInputSerializer,
        responses={200: s.ConflictDecidedSerializer, 409: STALE},
        examples=examples.RESOLVE,
    )
    def post(self, request: Request, project_pk: int, conflict_id: int) -> Response:
        data = valid(s.ResolveInputSerializer, request.data)
        conflict, lead, note = self.conflict(), request_user(request), data["note"]
        if data["action"] == s.ResolveAction.LABEL:
            conflict_resolve(conflict=conflict, lead=lead, value=data["value"], note=note)
        elif data["action"] == s.ResolveAction.MORE_RATERS:
            conflict_more_raters(conflict=conflict, lead=lead, note=note)
        else:
            conflict_mark_ambiguous(conflict=conflict, lead=lead, note=note)
        following = conflict_next(project=self.project(), after=conflict)
        return Response(s.ConflictDecidedSerializer((self.detail(), following)).data)


class ConflictReopenView(_ConflictView):
    @extend_schema(
        summary="Reopen a resolved or ambiguous conflict (lead)",
        description="Takes back the decision: the item loses the label a lead chose and is "
        "evaluated afresh from its raters' labels (open again, or settled if they agree now).",
        request=s.ReopenInputSerializer,
        responses={200: s.ConflictDetailSerializer, 409: STALE},
        examples=examples.REOPEN,
    )
    def post(self, request: Request, project_pk: int, conflict_id: int) -> Response:
        data = valid(s.ReopenInputSerializer, request.data)
        conflict_reopen(conflict=self.conflict(), lead=request_user(request), note=data["note"])
        return Response(s.ConflictDetailSerializer(self.detail()).data)


# --- raw labels and items' agreement, for leads and pipelines ------------------------------------


class ByIdPagination(DefaultCursorPagination):
    """Oldest first: a pipeline that reads to the end and keeps the last cursor (or filters by
    `updated_after`) comes back for what is new."""

    ordering = "pk"


class AnnotationListView(_ProjectView, generics.ListAPIView[Annotation]):
    permission_classes = [IsAuthenticated, IsProjectLeadOrPipeline]
    # Raw labels are what a pipeline reading items for training wants next to them.
    project_token_scopes = {"GET": TokenScope.ITEMS_READ}
    serializer_class = s.AnnotationRowSerializer
    filterset_class = AnnotationFilter
    pagination_class = ByIdPagination

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return Annotation.objects.none()
        query = valid(s.AnnotationQuerySerializer, self.request.query_params)
        return project_annotations(
            project=self.project(), revisions=query.get("include") == "revisions"
        )

    @extend_schema(
        summary="Every annotation of the project, by id (lead, pipeline token with items:read)",
        description="Each rater's current label on each item; external raters (named in an "
        "imported file) by that name, with `is_external`. `include=revisions` adds every value "
        "each label held.",
        parameters=[s.AnnotationQuerySerializer],
        examples=examples.ANNOTATIONS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)


class ItemAgreementListView(_ProjectView, generics.ListAPIView[ItemAgreement]):
    permission_classes = [IsAuthenticated, IsProjectLeadOrPipeline]
    project_token_scopes = {"GET": TokenScope.ITEMS_READ}
    serializer_class = s.ItemAgreementSerializer
    filterset_class = ItemAgreementFilter
    pagination_class = ByIdPagination

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return ItemAgreement.objects.none()
        return item_agreements(project_id=int(self.kwargs["project_pk"]))

    @extend_schema(
        summary="Each item's agreement, by item id (lead, pipeline token with items:read)",
        description="One row per item whose labels are all in: its consensus under the "
        "project's rule, how far its raters agree, whether the rule is met, and the item's "
        "status and label of record.",
        examples=examples.ITEM_AGREEMENTS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)
