"""The labeling API: one view per operation, each a few lines around one service call."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import error_responses
from core.api.throttles import ClaimThrottle, SubmitThrottle
from labeling import assignment, lead_assignment, services
from labeling.api import serializers as s
from labeling.errors import InvalidValue, LabelingError, LeaseExpired
from labeling.models import Assignment
from labeling.progress import rater_progress, remaining_figures
from labeling.selectors import rater_history
from projects.api.permissions import (
    PROJECT_NOT_FOUND,
    IsProjectLead,
    IsProjectMember,
    request_project,
    request_user,
)
from projects.models import Item, Project


class LabelingConflict(exceptions.APIException):
    def __init__(self, error: LabelingError) -> None:
        self.status_code = error.status
        super().__init__(detail=error.message, code=error.code)
        self.default_code = error.code
        if isinstance(error, InvalidValue):
            self.error_fields = {"value": [error.message]}


def _raise(error: LabelingError) -> None:
    raise LabelingConflict(error) from error


class _ProjectView(APIView):
    permission_classes = [IsProjectMember]

    def project(self) -> Project:
        project = request_project(self.request, int(self.kwargs["project_pk"]))
        if project is None:
            raise exceptions.NotFound(PROJECT_NOT_FOUND)
        return project

    def item(self, project: Project) -> Item:
        return get_object_or_404(
            Item.objects.select_related("project", "image"),
            pk=self.kwargs["item_pk"],
            project=project,
        )

    def progress(self, project: Project) -> dict[str, Any]:
        return asdict(rater_progress(project=project, rater=request_user(self.request)))


_JSON = JSONRenderer()
_ACCEPTS_JSON = frozenset({"*/*", "application/json"})


class _HotView(_ProjectView):
    """Claim and submit, the two requests of every labeled item: JSON only, so that content
    negotiation has one renderer to consider."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        """JSON at once for what the page and API clients send; anything else (another Accept
        header, a `?format=` override) is negotiated as DRF does, and refused the same way."""
        if "format" not in request._request.GET and (
            request.META.get("HTTP_ACCEPT", "*/*") in _ACCEPTS_JSON
        ):
            return _JSON, _JSON.media_type
        return super().perform_content_negotiation(request, force)


class ClaimView(_HotView):
    throttle_classes = [ClaimThrottle]

    @extend_schema(request=s.ClaimInputSerializer, responses=s.ClaimOutputSerializer)
    def post(self, request: Request, project_pk: int) -> Response:
        """The rater's current item(s): their live leases and assignments first (a reload gets
        the same item), then new leases up to `hold` (2 keeps the next item prefetched)."""
        hold = s.claim_input(request.data)
        project = self.project()
        rater = request_user(request)
        try:
            claim = assignment.rater_claim(project=project, rater=rater, hold=hold)
        except LabelingError as error:
            _raise(error)
        remaining = remaining_figures(project=project)
        # Holding nothing after a claim means the rater's queue is empty: nothing left for them.
        holding = sum(not hold.item.is_gold for hold in claim.holds)
        mine_remaining = (
            remaining.for_rater(rater.pk, labeled_total=claim.labeled_total, holding=holding)
            if claim.holds
            else 0
        )
        progress = {
            "mine_today": claim.labeled_today,
            "mine_total": claim.labeled_total,
            "project_remaining": remaining.items,
            "mine_remaining": mine_remaining,
        }
        fields = project.rater_fields
        return Response(
            {"items": [s.hold_data(h, fields) for h in claim.holds], "progress": progress}
        )


class SubmitView(_HotView):
    throttle_classes = [SubmitThrottle]

    @extend_schema(
        request=s.SubmitInputSerializer,
        responses={
            201: OpenApiResponse(s.SubmitOutputSerializer, description="A new label."),
            200: OpenApiResponse(
                s.SubmitOutputSerializer, description="A changed label, or a replayed submit."
            ),
            **error_responses(409),
        },
    )
    def post(self, request: Request, project_pk: int, item_pk: int) -> Response:
        """Label an item (or change the label). Retrying with the same client_id is safe. The
        rater's counts come with the next claim (or from progress/)."""
        data = s.submit_input(request.data)
        try:
            result = services.annotation_submit(
                project=self.project(), item_id=item_pk, rater=request_user(request), **data
            )
        except LabelingError as error:
            _raise(error)
        body = {
            "annotation": s.annotation_data(result.annotation),
            "created": result.created,
            "replayed": result.replayed,
        }
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(body, status=code)


class SkipView(_ProjectView):
    @extend_schema(
        request=s.SkipInputSerializer,
        responses={200: s.HoldAssignmentSerializer, **error_responses(409)},
    )
    def post(self, request: Request, project_pk: int, item_pk: int) -> Response:
        """Pass on an item: it goes back to the queue for others, never again to this rater."""
        data = s.SkipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = self.project()
        try:
            held = services.item_skip(
                item=self.item(project),
                rater=request_user(request),
                reason=data.validated_data["reason"],
            )
        except LabelingError as error:
            _raise(error)
        return Response(s.HoldAssignmentSerializer(held).data)


class RenewView(_ProjectView):
    @extend_schema(
        request=None, responses={200: s.HoldAssignmentSerializer, **error_responses(409)}
    )
    def post(self, request: Request, project_pk: int, item_pk: int) -> Response:
        """Extend the rater's live lease on the item; 409 if it has expired."""
        project = self.project()
        held = get_object_or_404(
            Assignment.objects.select_related("project"),
            project=project, item_id=item_pk, rater=request_user(request),
        )  # fmt: skip
        if not assignment.lease_renew(assignment=held):
            _raise(LeaseExpired("Your lease on this item has expired."))
        held.refresh_from_db()
        return Response(s.HoldAssignmentSerializer(held).data)


class HistoryView(_ProjectView):
    @extend_schema(parameters=[s.HistoryQuerySerializer], responses=s.HistoryOutputSerializer)
    def get(self, request: Request, project_pk: int) -> Response:
        """The caller's own past items, newest first, with their own label (for going back)."""
        query = s.HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = self.project()
        entries = rater_history(
            project=project,
            rater=request_user(request),
            before_id=query.validated_data.get("before"),
            limit=query.validated_data["limit"],
        )
        context = {"rater_fields": project.rater_fields}
        return Response(
            {"items": s.HistoryEntrySerializer(entries, many=True, context=context).data}
        )


class ProgressView(_ProjectView):
    @extend_schema(responses=s.ProgressSerializer)
    def get(self, request: Request, project_pk: int) -> Response:
        return Response(self.progress(self.project()))


class AssignView(_ProjectView):
    permission_classes = [IsProjectLead]

    @extend_schema(request=s.AssignInputSerializer, responses=s.AssignOutputSerializer)
    def post(self, request: Request, project_pk: int) -> Response:
        """A lead assigns a batch of items (by id or key) to a rater; they come first in the
        rater's queue."""
        data = s.AssignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = self.project()
        rater = get_user_model().objects.filter(username=data.validated_data["rater"]).first()
        if rater is None:
            raise exceptions.ValidationError({"rater": "No user with this username."})
        try:
            result = lead_assignment.items_assign(
                project=project,
                rater=rater,
                assigned_by=request_user(request),
                item_ids=data.validated_data["item_ids"],
                keys=data.validated_data["item_keys"],
            )
        except LabelingError as error:
            raise exceptions.ValidationError({"rater": error.message}) from error
        return Response(s.AssignOutputSerializer(asdict(result)).data)
