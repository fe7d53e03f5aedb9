"""Input and output shapes of the agreement API.

Output serializers read what `agreement.selectors` loaded (no query per row). Values (a
consensus, a label of record, an annotation's value, a lead's choice) are in the API's value
shape: a label value, a sorted list of label values (multi-label), or a whole number (rating).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agreement.models import (
    Conflict,
    ConflictStatus,
    EventKind,
    LabelSource,
    Method,
    ResolutionAction,
)
from agreement.selectors import ConflictDetail
from agreement.services.conflicts import NOTE_MAX
from core.api.strict import StrictJsonInput
from labeling.models import Annotation
from projects.models import ItemStatus

VALUE_HELP = "A label value, a sorted list of label values (multi-label), or a rating."


# --- parts --------------------------------------------------------------------------------------


class ItemRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    key = serializers.CharField()


class ItemStateSerializer(ItemRefSerializer):
    status = serializers.ChoiceField(choices=ItemStatus.choices)


class ConsensusSerializer(serializers.Serializer[Any]):
    """The consensus of the item's current labels under the project's rule."""

    value = serializers.JSONField(
        source="consensus", allow_null=True, help_text=f"{VALUE_HELP} Null on a tie."
    )
    confidence = serializers.FloatField(
        allow_null=True, help_text="The consensus's share of the votes (or its posterior)."
    )
    method = serializers.ChoiceField(choices=Method.choices)
    tie = serializers.BooleanField(help_text="Two values came first together: no consensus.")


class LabelOfRecordSerializer(serializers.Serializer[Any]):
    """The item's final label and where it comes from."""

    value = serializers.JSONField(help_text=VALUE_HELP)
    source = serializers.ChoiceField(choices=LabelSource.choices)  # type: ignore[assignment]  # the label's, not Field.source
    method = serializers.ChoiceField(choices=Method.choices)
    confidence = serializers.FloatField(allow_null=True)


def rater_name(annotation: Annotation) -> str:
    """An external rater by the name their file gave; anyone else by username (both loaded by
    `agreement.selectors.annotations_with_raters`)."""
    external: str | None = annotation.rater_external_name  # type: ignore[attr-defined]
    return external if external is not None else annotation.rater_username  # type: ignore[attr-defined,no-any-return]


class RevisionSerializer(serializers.Serializer[Any]):
    revision = serializers.IntegerField()
    value = serializers.JSONField(help_text=VALUE_HELP)
    created_at = serializers.DateTimeField()


class AnnotationSerializer(serializers.Serializer[Any]):
    """One rater's current label on an item."""

    id = serializers.IntegerField()
    rater = serializers.SerializerMethodField(
        help_text="The rater's username; an external rater's name as their imported file gave it."
    )
    is_external = serializers.SerializerMethodField(
        help_text="A rater named in an imported file, with no account."
    )
    value = serializers.JSONField(help_text=VALUE_HELP)
    revision = serializers.IntegerField(help_text="1 for the first value; +1 at each change.")
    time_spent_ms = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_rater(self, annotation: Annotation) -> str:
        return rater_name(annotation)

    def get_is_external(self, annotation: Annotation) -> bool:
        return annotation.rater_external_name is not None  # type: ignore[attr-defined]


class AnnotationRowSerializer(AnnotationSerializer):
    """An annotation of the project, with its item (and, when asked, every value it held)."""

    item = serializers.SerializerMethodField()
    revisions = RevisionSerializer(
        many=True, source="revision_list", required=False,
        help_text="With `include=revisions` only: every value it held, oldest first.",
    )  # fmt: skip

    @extend_schema_field(ItemRefSerializer)
    def get_item(self, annotation: Annotation) -> dict[str, Any]:
        return {"id": annotation.item_id, "key": annotation.item_key}  # type: ignore[attr-defined]


class ResolutionSerializer(serializers.Serializer[Any]):
    """A lead's decision on the conflict; never changed afterwards."""

    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=ResolutionAction.choices)
    lead = serializers.CharField(source="lead_username", help_text="Username of the lead.")
    value_before = serializers.JSONField(
        allow_null=True, help_text="The item's label of record before (null: none)."
    )
    value_after = serializers.JSONField(
        allow_null=True, help_text="The item's label of record after (null: none)."
    )
    status_before = serializers.ChoiceField(choices=ConflictStatus.choices)
    status_after = serializers.ChoiceField(choices=ConflictStatus.choices)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class ItemEventSerializer(serializers.Serializer[Any]):
    """A line of the item's agreement history."""

    kind = serializers.ChoiceField(choices=EventKind.choices)
    actor = serializers.CharField(
        source="actor_username", allow_null=True,
        help_text="Username of who caused it (a rater's label, a lead's decision); null: none.",
    )  # fmt: skip
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


# --- conflicts ----------------------------------------------------------------------------------


class ConflictSerializer(serializers.Serializer[Any]):
    """A conflict as the lead's queue lists it. Reads `agreement.selectors.conflict_queue`."""

    id = serializers.IntegerField()
    item = ItemRefSerializer()
    status = serializers.ChoiceField(
        choices=ConflictStatus.choices,
        help_text="open (for a lead), waiting (for one more rater), resolved (a lead chose the "
        "label), ambiguous (no label: out of datasets), settled (the raters agree now).",
    )
    observed = serializers.FloatField(
        allow_null=True,
        help_text="Share of agreeing rater pairs on the item (0-1); null with fewer than two "
        "labels.",
    )
    label_pair = serializers.CharField(
        help_text='The two values most chosen, sorted, as "a | b" (empty with one value).'
    )
    times_opened = serializers.IntegerField()
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    consensus = ConsensusSerializer(
        source="item.agreement", allow_null=True,
        help_text="The consensus of the item's current labels.",
    )  # fmt: skip
    label_of_record = LabelOfRecordSerializer(
        source="item.label_of_record", allow_null=True,
        help_text="Null while the item is in conflict, and for an ambiguous one.",
    )  # fmt: skip


class ConflictDetailSerializer(ConflictSerializer):
    """A conflict with what a lead decides on. Serializes a `ConflictDetail`."""

    annotations = AnnotationSerializer(
        many=True, help_text="Every current label on the item, oldest first."
    )
    resolutions = ResolutionSerializer(
        many=True, help_text="Every decision a lead took on it, oldest first."
    )
    history = ItemEventSerializer(
        many=True, help_text="The item's agreement history, oldest first."
    )

    def to_representation(self, instance: ConflictDetail) -> dict[str, Any]:  # type: ignore[override]
        return {
            **ConflictSerializer(instance.conflict).data,
            "annotations": AnnotationSerializer(instance.annotations, many=True).data,
            "resolutions": ResolutionSerializer(instance.resolutions, many=True).data,
            "history": ItemEventSerializer(instance.events, many=True).data,
        }


class ConflictRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="Its detail in this API.")


def conflict_ref(conflict: Conflict | None) -> dict[str, Any] | None:
    if conflict is None:
        return None
    url = reverse(
        "api-conflict-detail",
        kwargs={"project_pk": conflict.project_id, "conflict_id": conflict.pk},
    )
    return {"id": conflict.pk, "url": url}


class ConflictDecidedSerializer(ConflictDetailSerializer):
    """The conflict after a lead's decision, and the one to look at next."""

    next = ConflictRefSerializer(
        allow_null=True,
        help_text="The next open conflict in queue order (lowest agreement first); null when "
        "none is left.",
    )

    def to_representation(self, instance: tuple[ConflictDetail, Conflict | None]) -> dict[str, Any]:  # type: ignore[override]
        detail, following = instance
        return {**ConflictDetailSerializer(detail).data, "next": conflict_ref(following)}


class ResolveAction:
    LABEL = "label"
    MORE_RATERS = "more_raters"
    AMBIGUOUS = "ambiguous"
    CHOICES = [
        (LABEL, "Choose the final label (give it in value)"),
        (MORE_RATERS, "Ask for one more rater"),
        (AMBIGUOUS, "Mark the item ambiguous: no label, out of datasets"),
    ]


class ResolveInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    unknown_fields_refused = True

    action = serializers.ChoiceField(choices=ResolveAction.CHOICES)
    value = serializers.JSONField(
        required=False, help_text=f"With action label only: the final label. {VALUE_HELP}"
    )
    note = serializers.CharField(
        max_length=NOTE_MAX, allow_blank=True, default="",
        help_text="Why; kept with the decision and in the item's history.",
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["action"] == ResolveAction.LABEL and "value" not in attrs:
            raise serializers.ValidationError(
                {"value": ["Give the final label: action 'label' needs a value."]}
            )
        if attrs["action"] != ResolveAction.LABEL and "value" in attrs:
            raise serializers.ValidationError(
                {"value": [f"Only action 'label' takes a value, not {attrs['action']!r}."]}
            )
        return attrs


class ReopenInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    unknown_fields_refused = True

    note = serializers.CharField(
        max_length=NOTE_MAX, allow_blank=True, default="",
        help_text="Why; kept with the decision and in the item's history.",
    )  # fmt: skip


# --- annotations and items' agreement -----------------------------------------------------------


class AnnotationQuerySerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    include = serializers.ChoiceField(
        choices=[("revisions", "Every value each annotation held")], required=False,
        help_text="revisions: add each annotation's revisions (every value it held).",
    )  # fmt: skip


class ItemAgreementSerializer(serializers.Serializer[Any]):
    """Where an item's raters stand, from its latest evaluation (once its labels were all in).
    Reads `agreement.selectors.item_agreements`."""

    item = ItemStateSerializer()
    n_annotations = serializers.IntegerField()
    observed = serializers.FloatField(
        allow_null=True,
        help_text="Share of agreeing rater pairs (0-1); null with fewer than two labels.",
    )
    consensus = serializers.JSONField(allow_null=True, help_text=f"{VALUE_HELP} Null on a tie.")
    method = serializers.ChoiceField(choices=Method.choices)
    confidence = serializers.FloatField(allow_null=True)
    tie = serializers.BooleanField()
    passes = serializers.BooleanField(help_text="Meets the project's agreement rule.")
    label_pair = serializers.CharField(
        help_text='The two values most chosen, sorted, as "a | b" (empty with one value).'
    )
    evaluated_at = serializers.DateTimeField()
    label_of_record = LabelOfRecordSerializer(
        source="item.label_of_record", allow_null=True,
        help_text="Null while the item is in conflict, and for an ambiguous one.",
    )  # fmt: skip
