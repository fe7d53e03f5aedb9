"""The agreement figures over the API: a project's summary (every statistic with what it rests on
and its interval), the raters' scorecards, and the recompute that makes them.

Leads read everything and start recomputes; a rater reads only their own scorecard; project
tokens (pipelines) reach none of it.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from agreement.models import AgreementRecompute, RaterQuality
from agreement.services.figures import (
    Scorecard,
    conflict_counts,
    figures_of,
    items_changed_since,
    rater_names,
    recompute_latest,
    scorecards_from,
)
from agreement.services.recompute import agreement_recompute_request, agreement_recompute_retry
from core.api.schema import error_responses
from core.jobs.api import JOB_FIELDS, JobSerializerMixin
from projects.api.permissions import IsProjectLead, IsProjectMember, request_user
from projects.api.views.common import ProjectNestedMixin
from projects.models import Role

# --- serializers -------------------------------------------------------------------------------


class IntervalSerializer(serializers.Serializer[Any]):
    low = serializers.FloatField(
        allow_null=True, help_text="null when every resample was undefined"
    )
    high = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField(help_text="0.95")
    resamples = serializers.IntegerField(help_text="Bootstrap resamples of the items.")
    undefined_resamples = serializers.IntegerField(
        help_text="Resamples on which the statistic was undefined (left out of the percentiles)."
    )


class MetricSerializer(serializers.Serializer[Any]):
    """A statistic and what it rests on."""

    value = serializers.FloatField(allow_null=True, help_text="null when undefined (see reason)")
    items = serializers.IntegerField(help_text="Items that entered it (two labels or more).")
    raters = serializers.IntegerField(help_text="Raters with a label on those items.")
    pairable = serializers.IntegerField(help_text="Labels on those items (Krippendorff's n).")
    reason = serializers.CharField(allow_blank=True, help_text="Why it is undefined, if it is.")
    interval = IntervalSerializer(
        allow_null=True, required=False, help_text="95% bootstrap interval over items, if any."
    )
    level = serializers.CharField(
        required=False, help_text="Alpha: nominal, ordinal, interval, ratio, or masi."
    )
    statistic = serializers.CharField(required=False, help_text="Kappa: fleiss.")


class PairSummarySerializer(serializers.Serializer[Any]):
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    pairs = serializers.IntegerField(help_text="Pairs of raters with a defined kappa.")
    undefined_pairs = serializers.IntegerField()
    raters = serializers.IntegerField()
    items = serializers.IntegerField(help_text="Items with two labels or more.")
    rating_pairs = serializers.IntegerField(help_text="Pairs of labels on the same item.")
    min_items = serializers.IntegerField(help_text="Shared items a pair needs to count.")


class PairSerializer(serializers.Serializer[Any]):
    a = serializers.IntegerField(help_text="A rater's user id (`rater_names` names them).")
    b = serializers.IntegerField()
    items = serializers.IntegerField(help_text="Items both labeled.")
    agreement = serializers.FloatField(allow_null=True, help_text="Share of them they agree on.")
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa.")
    kappa_linear = serializers.FloatField(allow_null=True, required=False)
    kappa_quadratic = serializers.FloatField(allow_null=True, required=False)


class RaterKappaSerializer(serializers.Serializer[Any]):
    kappa = serializers.FloatField(allow_null=True)
    items = serializers.IntegerField()


class PerLabelSerializer(serializers.Serializer[Any]):
    value = serializers.CharField(help_text="The label's value, or a rating.")
    annotations = serializers.IntegerField(help_text="Labels that chose it.")
    share = serializers.FloatField(allow_null=True)
    consensus_items = serializers.IntegerField(help_text="Items whose consensus it is (or has).")
    specific_agreement = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(
        allow_null=True, required=False, help_text="Fleiss' kappa of the category."
    )
    alpha = MetricSerializer(required=False, help_text="Multi-label: alpha of chosen or not.")
    with_consensus = serializers.IntegerField(required=False)
    beyond_consensus = serializers.IntegerField(required=False)
    missed = serializers.IntegerField(required=False)


class ConfusionSerializer(serializers.Serializer[Any]):
    rows = serializers.CharField()
    columns = serializers.CharField()
    matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="matrix[r][c]: labels r given on items whose consensus is (or has) c, in the "
        "order of `values`.",
    )
    annotations = serializers.IntegerField()


class WeekSerializer(serializers.Serializer[Any]):
    week = serializers.CharField(help_text="ISO week, e.g. 2026-W49.")
    observed_agreement = serializers.FloatField(allow_null=True)
    items = serializers.IntegerField()


class SummarySerializer(serializers.Serializer[Any]):
    """The figures of the last recompute. Single-label and rating projects have every field;
    multi-label ones have `alpha` over label sets (MASI), `kappa` null and no pairs."""

    version = serializers.IntegerField()
    rule = serializers.CharField()
    threshold = serializers.FloatField()
    method = serializers.CharField(help_text="The label model of the consensus.")
    label_kind = serializers.CharField()
    values = serializers.ListField(child=serializers.CharField())
    items = serializers.IntegerField()
    items_with_two_or_more = serializers.IntegerField()
    annotations = serializers.IntegerField()
    raters = serializers.IntegerField()
    observed_agreement = MetricSerializer()
    alpha = MetricSerializer(help_text="The project's Krippendorff's alpha, with its interval.")
    alpha_levels = serializers.DictField(child=MetricSerializer(), required=False)
    kappa = MetricSerializer(allow_null=True, help_text="Fleiss' kappa, with its interval.")
    gwet = serializers.DictField(child=MetricSerializer(), required=False)
    cohen_kappa = serializers.DictField(
        child=PairSummarySerializer(), required=False, help_text="By weights."
    )
    pairs = PairSerializer(many=True, required=False)
    rater_kappa = serializers.DictField(
        child=RaterKappaSerializer(), required=False,
        help_text="Each rater's kappa against the consensus, by user id.",
    )  # fmt: skip
    per_label = PerLabelSerializer(many=True)
    confusion = ConfusionSerializer()
    weekly = WeekSerializer(many=True)
    conflicts = serializers.DictField(
        child=serializers.IntegerField(), help_text="At the recompute, by status."
    )
    computed_at = serializers.DateTimeField()


class RecomputeSerializer(JobSerializerMixin, serializers.ModelSerializer[AgreementRecompute]):
    requested_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    items_changed = serializers.IntegerField(
        read_only=True, help_text="Items whose outcome (consensus, status) the recompute changed."
    )

    class Meta:
        model = AgreementRecompute
        fields = ["id", "project", "requested_by", "items_changed", *JOB_FIELDS]
        read_only_fields = fields


class AgreementSerializer(serializers.Serializer[Any]):
    project = serializers.IntegerField()
    computed_at = serializers.DateTimeField(
        allow_null=True, help_text="When the figures were computed; null before any recompute."
    )
    items_changed_since = serializers.IntegerField(
        allow_null=True, help_text="Items evaluated since (a label given or changed, a decision)."
    )
    conflicts = serializers.DictField(child=serializers.IntegerField(), help_text="Now, by status.")
    summary = SummarySerializer(allow_null=True)
    rater_names = serializers.DictField(
        child=serializers.CharField(), help_text="The raters of `pairs`, by user id."
    )
    recompute = RecomputeSerializer(
        allow_null=True, help_text="The live recompute, else the latest one; null if none."
    )


class TrendWeekSerializer(serializers.Serializer[Any]):
    week = serializers.CharField()
    agreement = serializers.FloatField(allow_null=True)
    labels = serializers.IntegerField()


class ScorecardSerializer(serializers.Serializer[Any]):
    rater_id = serializers.IntegerField()
    rater = serializers.CharField(
        source="name", help_text="Username; an external rater's name from the file."
    )
    is_external = serializers.BooleanField()
    annotations = serializers.IntegerField(source="quality.annotations")
    agreement = serializers.FloatField(
        source="quality.loo_agreement", allow_null=True,
        help_text="Share of the rater's labels that match the majority of the other raters.",
    )  # fmt: skip
    agreement_labels = serializers.IntegerField(source="quality.loo_items")
    kappa = serializers.FloatField(allow_null=True, help_text="Cohen's kappa vs the consensus.")
    kappa_items = serializers.IntegerField()
    ds_accuracy = serializers.FloatField(source="quality.ds_accuracy", allow_null=True)
    gold_items = serializers.IntegerField(source="quality.gold_items")
    gold_correct = serializers.IntegerField(source="quality.gold_correct")
    gold_accuracy = serializers.FloatField(allow_null=True)
    conflicts = serializers.IntegerField(source="quality.conflicts")
    labels_per_hour = serializers.FloatField(source="quality.labels_per_hour", allow_null=True)
    median_seconds = serializers.FloatField(source="quality.median_seconds", allow_null=True)
    trend = serializers.SerializerMethodField()
    computed_at = serializers.DateTimeField(source="quality.computed_at")

    @extend_schema_field(TrendWeekSerializer(many=True))
    def get_trend(self, card: Scorecard) -> list[dict[str, Any]]:
        return [
            {"week": week, "agreement": share, "labels": n} for week, share, n in card.quality.trend
        ]


# --- examples ----------------------------------------------------------------------------------

_INTERVAL = {"confidence": 0.95, "resamples": 1000, "undefined_resamples": 0}
SUMMARY_EXAMPLE: dict[str, Any] = {
    "project": 3,
    "computed_at": "2026-12-07T19:30:05Z",
    "items_changed_since": 12,
    "conflicts": {"open": 15, "resolved": 4},
    "summary": {
        "version": 2, "rule": "majority", "threshold": 0.66, "method": "majority",
        "label_kind": "single", "values": ["billing", "bug", "feature", "account", "other"],
        "items": 420, "items_with_two_or_more": 420, "annotations": 1260, "raters": 7,
        "observed_agreement": {
            "value": 0.763889, "items": 420, "raters": 7, "pairable": 1260, "reason": "",
            "interval": None,
        },
        "alpha": {
            "value": 0.687246, "items": 420, "raters": 7, "pairable": 1260, "reason": "",
            "interval": {"low": 0.644012, "high": 0.72702, **_INTERVAL}, "level": "nominal",
        },
        "alpha_levels": {"nominal": {
            "value": 0.687246, "items": 420, "raters": 7, "pairable": 1260, "reason": "",
            "interval": {"low": 0.644012, "high": 0.72702, **_INTERVAL}, "level": "nominal",
        }},
        "kappa": {
            "value": 0.686873, "items": 420, "raters": 7, "pairable": 1260, "reason": "",
            "interval": {"low": 0.643524, "high": 0.726712, **_INTERVAL}, "statistic": "fleiss",
        },
        "gwet": {"ac1": {
            "value": 0.709741, "items": 420, "raters": 7, "pairable": 1260, "reason": "",
            "interval": None,
        }},
        "cohen_kappa": {"unweighted": {
            "mean": 0.691147, "median": 0.700123, "min": 0.551273, "max": 0.843316, "pairs": 14,
            "undefined_pairs": 0, "raters": 7, "items": 420, "rating_pairs": 1260,
            "min_items": 2,
        }},
        "pairs": [
            {"a": 5, "b": 6, "items": 128, "agreement": 0.65625, "kappa": 0.551273},
            {"a": 2, "b": 3, "items": 64, "agreement": 0.890625, "kappa": 0.843316},
        ],
        "rater_kappa": {"2": {"kappa": 0.912835, "items": 188}},
        "per_label": [
            {"value": "billing", "annotations": 470, "share": 0.373016, "consensus_items": 162,
             "specific_agreement": 0.829787, "kappa": 0.728778},
            {"value": "bug", "annotations": 287, "share": 0.227778, "consensus_items": 96,
             "specific_agreement": 0.808362, "kappa": 0.751667},
        ],
        "confusion": {
            "rows": "rater's label", "columns": "consensus",
            "matrix": [[438, 9, 3, 3, 4], [11, 260, 3, 3, 2], [15, 3, 186, 4, 7],
                       [15, 7, 7, 108, 1], [7, 9, 11, 2, 97]],
            "annotations": 1215,
        },
        "weekly": [{"week": "2026-W48", "observed_agreement": 0.771429, "items": 70},
                   {"week": "2026-W49", "observed_agreement": 0.746377, "items": 92}],
        "conflicts": {"open": 15},
        "computed_at": "2026-12-07T19:30:05Z",
    },
    "rater_names": {"2": "bob", "3": "carol", "5": "erin", "6": "frank"},
    "recompute": {
        "id": 8, "project": 3, "requested_by": "alice", "items_changed": 0,
        "status": "succeeded", "phase": "done", "progress": 0, "total": None, "percent": 100,
        "error_count": 0, "errors": [], "attempts": 1, "is_finished": True, "is_stalled": False,
        "message": "420 items and 1,260 annotations computed; 0 items changed.",
        "created_at": "2026-12-07T19:30:03Z", "queued_at": "2026-12-07T19:30:03Z",
        "started_at": "2026-12-07T19:30:04Z", "heartbeat_at": "2026-12-07T19:30:05Z",
        "finished_at": "2026-12-07T19:30:05Z",
    },
}  # fmt: skip
RECOMPUTE_QUEUED = {
    **SUMMARY_EXAMPLE["recompute"], "id": 9, "items_changed": 0, "status": "pending", "phase": "",
    "percent": None, "attempts": 0, "is_finished": False, "message": "", "started_at": None,
    "heartbeat_at": None, "finished_at": None, "created_at": "2026-12-08T09:00:00Z",
    "queued_at": "2026-12-08T09:00:00Z",
}  # fmt: skip
RECOMPUTE_RUNNING = {
    **RECOMPUTE_QUEUED, "status": "running", "phase": "writing changed items", "progress": 4000,
    "total": 12850, "percent": 31, "attempts": 1, "started_at": "2026-12-08T09:00:01Z",
    "heartbeat_at": "2026-12-08T09:00:03Z",
}  # fmt: skip
SCORECARD_EXAMPLE = {
    "rater_id": 2, "rater": "bob", "is_external": False, "annotations": 192,
    "agreement": 0.922581, "agreement_labels": 155, "kappa": 0.912835, "kappa_items": 188,
    "ds_accuracy": 0.924107, "gold_items": 6, "gold_correct": 6, "gold_accuracy": 1.0,
    "conflicts": 4, "labels_per_hour": 626.6, "median_seconds": 5.4,
    "trend": [{"week": "2026-W48", "agreement": 0.96, "labels": 25},
              {"week": "2026-W49", "agreement": 0.913043, "labels": 23}],
    "computed_at": "2026-12-07T19:30:05Z",
}  # fmt: skip
LOCATION = OpenApiParameter(
    "Location", type=str, location=OpenApiParameter.HEADER, response=[202],
    description="The recompute's URL: poll it for status and progress.",
)  # fmt: skip


# --- views -------------------------------------------------------------------------------------


class AgreementView(ProjectNestedMixin, GenericAPIView[Any]):
    """A project's agreement: the figures of its last recompute, its conflicts now, and the
    recompute that is running or ran last."""

    permission_classes = [IsProjectLead]
    serializer_class = AgreementSerializer
    pagination_class = None

    @extend_schema(
        summary="The project's agreement figures, with their n and intervals (lead)",
        description="Every statistic Accord computes (the page /agreement/metrics/ says "
        "what each means), from the last full recompute; `summary` is null before the first. "
        "`conflicts` and `items_changed_since` are read now.",
        examples=[
            OpenApiExample("A single-label project", value=SUMMARY_EXAMPLE, response_only=True)
        ],
    )
    def get(self, request: Request, project_pk: int) -> Response:
        project = self.get_project()
        figures = figures_of(project)
        summary = figures.summary if figures else None
        pairs = (summary or {}).get("pairs", [])
        names = rater_names(project, sorted({p["a"] for p in pairs} | {p["b"] for p in pairs}))
        data = {
            "project": project.pk,
            "computed_at": figures.computed_at if figures else None,
            "items_changed_since": items_changed_since(project, figures.computed_at)
            if figures else None,
            "conflicts": conflict_counts(project),
            "summary": summary,
            "rater_names": {str(rater_id): name for rater_id, name in names.items()},
            "recompute": recompute_latest(project),
        }  # fmt: skip
        return Response(AgreementSerializer(data).data)


@extend_schema_view(
    get=extend_schema(
        summary="Rater scorecards: a lead sees every rater, a rater only themselves",
        examples=[OpenApiExample("A rater", value=SCORECARD_EXAMPLE, response_only=True)],
    )
)
class ScorecardListView(ProjectNestedMixin, ListAPIView[Any]):
    """The raters' scorecards from the last recompute: a lead reads every rater's, a rater only
    their own (an empty list before their first recompute)."""

    permission_classes = [IsProjectMember]
    serializer_class = ScorecardSerializer

    def get_queryset(self) -> Any:
        if self.is_schema_view():
            return RaterQuality.objects.none()
        qualities = RaterQuality.objects.filter(project_id=self.kwargs["project_pk"])
        if self.caller_role() != Role.LEAD:
            qualities = qualities.filter(rater_id=request_user(self.request).pk)
        return qualities.select_related("rater")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        cards = scorecards_from(self.get_project(), list(page or []))
        return self.get_paginated_response(ScorecardSerializer(cards, many=True).data)


class RecomputeCreateView(ProjectNestedMixin, GenericAPIView[Any]):
    permission_classes = [IsProjectLead]
    serializer_class = RecomputeSerializer

    @extend_schema(
        summary="Recompute the project's agreement (lead); joins a recompute already under way",
        description="Every item's consensus and status, the label model, the figures and the "
        "scorecards, in the background. Answers 202 with the job (a new one, or the one pending "
        "or running: there is at most one per project) and its URL in Location.",
        request=None,
        responses={
            202: OpenApiResponse(
                RecomputeSerializer, description="Accepted: poll the URL in Location."
            ),
            **error_responses(409),
        },
        parameters=[LOCATION],
        examples=[
            OpenApiExample("Queued", value=RECOMPUTE_QUEUED, response_only=True,
                           status_codes=["202"]),
        ],
    )  # fmt: skip
    def post(self, request: Request, project_pk: int) -> Response:
        job = agreement_recompute_request(
            project=self.get_project(), requested_by=request_user(request)
        )
        job.refresh_from_db()  # the task may already have run (in-process without Redis)
        location = reverse(
            "api-agreement-recompute-detail", kwargs={"project_pk": project_pk, "pk": job.pk}
        )
        return Response(
            RecomputeSerializer(job).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(location)},
        )


class _RecomputeView(ProjectNestedMixin, GenericAPIView[Any]):
    permission_classes = [IsProjectLead]
    serializer_class = RecomputeSerializer

    def job(self) -> AgreementRecompute:
        return get_object_or_404(
            AgreementRecompute.objects.select_related("requested_by", "project"),
            pk=self.kwargs["pk"], project_id=self.kwargs["project_pk"],
        )  # fmt: skip


class RecomputeDetailView(_RecomputeView):
    @extend_schema(
        summary="One recompute: poll it for status and progress (lead)",
        examples=[
            OpenApiExample("Running", value=RECOMPUTE_RUNNING, response_only=True),
            OpenApiExample("Succeeded", value=SUMMARY_EXAMPLE["recompute"], response_only=True),
        ],
    )
    def get(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(RecomputeSerializer(self.job()).data)


class RecomputeRetryView(_RecomputeView):
    @extend_schema(
        summary="Run a failed (or stalled) recompute again (lead)",
        description="It redoes only what is still out of date. 400 when the recompute is "
        "neither failed nor stalled.",
        request=None,
        responses={200: RecomputeSerializer, **error_responses(409)},
    )
    def post(self, request: Request, project_pk: int, pk: int) -> Response:
        return Response(RecomputeSerializer(agreement_recompute_retry(job=self.job())).data)
