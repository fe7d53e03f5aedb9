"""Input and output shapes of the labeling API. Output never carries another rater's label nor
whether an item is gold."""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from core.api.strict import StrictJsonInput
from core.jobs.api import JOB_FIELDS, JobSerializerMixin
from labeling.models import Annotation, AnnotationImportFormat, AnnotationImportJob, Assignment
from projects.models import Item


def rater_data(item: Item, fields: list[str]) -> dict[str, Any]:
    """The item's data fields that the project shows raters (`Project.rater_fields`): nothing
    else of the imported row (an answer, a model's guess) may reach them."""
    data = item.data or {}
    return {name: data[name] for name in fields if name in data}


def file_url(route: str, item: Item) -> str:
    """The API's route to the item's image: a token client may fetch it, and so may the
    labeling page with its session."""
    return reverse(route, kwargs={"project_pk": item.project_id, "pk": item.pk})


class LabelingItemSerializer(serializers.Serializer):
    """An item as a rater sees it. Give the project's `rater_fields` in the context."""

    id = serializers.IntegerField()
    key = serializers.CharField()
    text = serializers.CharField()
    data = serializers.SerializerMethodField(  # type: ignore[assignment]  # the item's field
        help_text="Only the fields the project shows raters (its rater_fields)."
    )
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    width = serializers.SerializerMethodField()
    height = serializers.SerializerMethodField()

    def get_data(self, item: Item) -> dict[str, Any]:
        return rater_data(item, self.context.get("rater_fields", []))

    def get_image_url(self, item: Item) -> str | None:
        return file_url("api-item-image", item) if item.image_id else None

    def get_thumbnail_url(self, item: Item) -> str | None:
        return file_url("api-item-thumbnail", item) if item.image_id else None

    def get_width(self, item: Item) -> int | None:
        return item.image.width if item.image is not None else None

    def get_height(self, item: Item) -> int | None:
        return item.image.height if item.image is not None else None


class HoldAssignmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Assignment
        fields = ["id", "status", "expires_at"]


class ProgressSerializer(serializers.Serializer):
    mine_today = serializers.IntegerField(help_text="Items the caller labeled today.")
    mine_total = serializers.IntegerField(help_text="Items the caller labeled in the project.")
    project_remaining = serializers.IntegerField(
        help_text="Items that still need a label from anyone (gold items aside); counted at "
        "most ACCORD_PROGRESS_CACHE_SECONDS ago."
    )
    mine_remaining = serializers.IntegerField(
        help_text="Of those, the items the caller could still label: not labeled or skipped "
        "by them, with a slot free or held by them. Follows the caller's own labels at once, "
        "everyone else's at the next count."
    )


class HoldSerializer(serializers.Serializer):
    item = LabelingItemSerializer()
    assignment = HoldAssignmentSerializer()


# The claim and submit answers are built by hand (`hold_data`, `annotation_data`): they are
# the two requests of every labeled item, and DRF's serializers spent more CPU on them than the
# database work. The serializers above still describe them in the schema, and
# tests/labeling/test_labeling_api.py checks that both give the same JSON.
_datetime = serializers.DateTimeField()


def _iso(value: Any) -> str | None:
    return None if value is None else _datetime.to_representation(value)


def hold_data(hold: Any, rater_fields: list[str]) -> dict[str, Any]:
    """What HoldSerializer(hold).data gives, faster."""
    item, held = hold.item, hold.assignment
    image = item.image if item.image_id else None
    return {
        "item": {
            "id": item.pk,
            "key": item.key,
            "text": item.text,
            "data": rater_data(item, rater_fields),
            "image_url": file_url("api-item-image", item) if image else None,
            "thumbnail_url": file_url("api-item-thumbnail", item) if image else None,
            "width": image.width if image else None,
            "height": image.height if image else None,
        },
        "assignment": {"id": held.pk, "status": held.status, "expires_at": _iso(held.expires_at)},
    }


def annotation_data(annotation: Annotation) -> dict[str, Any]:
    """What AnnotationOutSerializer(annotation).data gives, faster."""
    return {
        "id": annotation.pk,
        "item": annotation.item_id,
        "value": annotation.value,
        "revision": annotation.revision,
        "client_id": str(annotation.client_id),
        "time_spent_ms": annotation.time_spent_ms,
        "created_at": _iso(annotation.created_at),
        "updated_at": _iso(annotation.updated_at),
    }


def _integer(data: Any, name: str, default: int, low: int, high: int | None) -> int:
    value = data.get(name, default)
    if value is None:
        raise serializers.ValidationError({name: ["This field may not be null."]})
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON's 2.0 is 2
    if isinstance(value, bool) or not isinstance(value, int):
        # A JSON number, as the schema says (StrictJsonInput's rule for the other inputs).
        raise serializers.ValidationError({name: ["Expected a whole number."]})
    number = value
    if number < low:
        raise serializers.ValidationError(
            {name: [f"Ensure this value is greater than or equal to {low}."]}
        )
    if high is not None and number > high:
        raise serializers.ValidationError(
            {name: [f"Ensure this value is less than or equal to {high}."]}
        )
    return number


def claim_input(data: Any) -> int:
    """`hold` of a claim, checked as ClaimInputSerializer documents it (and with its messages):
    the two hot requests skip DRF's serializer machinery, which cost more than their SQL."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    return _integer(data, "hold", 1, 1, 3)


def submit_input(data: Any) -> dict[str, Any]:
    """`value`, `client_id` and `time_spent_ms` of a submit, as SubmitInputSerializer."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    errors: dict[str, list[str]] = {}
    if "value" not in data:
        errors["value"] = ["This field is required."]
    client_id = data.get("client_id")
    try:
        # A string in any of uuid's forms, as DRF's UUIDField reads it.
        if client_id is not None and not isinstance(client_id, str):
            raise ValueError
        parsed_id = None if client_id is None else uuid.UUID(client_id)
    except ValueError:
        parsed_id = None
        errors["client_id"] = ["Must be a valid UUID."]
    if client_id is None:
        errors["client_id"] = ["This field is required."]
    try:
        time_spent_ms = _integer(data, "time_spent_ms", 0, 0, None)
    except serializers.ValidationError as error:
        errors.update(error.detail)  # type: ignore[arg-type]
        time_spent_ms = 0
    if errors:
        raise serializers.ValidationError(errors)
    return {"value": data["value"], "client_id": parsed_id, "time_spent_ms": time_spent_ms}


class ClaimInputSerializer(StrictJsonInput, serializers.Serializer):
    hold = serializers.IntegerField(min_value=1, max_value=3, default=1)


class ClaimOutputSerializer(serializers.Serializer):
    items = HoldSerializer(many=True)
    progress = ProgressSerializer()


class SubmitInputSerializer(StrictJsonInput, serializers.Serializer):
    value = serializers.JSONField(help_text="A label value, a list of label values, or a rating.")
    client_id = serializers.UUIDField(help_text="Generated by the client; makes retries safe.")
    time_spent_ms = serializers.IntegerField(min_value=0, default=0)


class AnnotationOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Annotation
        fields = ["id", "item", "value", "revision", "client_id", "time_spent_ms", "created_at",
                  "updated_at"]  # fmt: skip


class SubmitOutputSerializer(serializers.Serializer):
    annotation = AnnotationOutSerializer()
    created = serializers.BooleanField()
    replayed = serializers.BooleanField()


class SkipInputSerializer(StrictJsonInput, serializers.Serializer):
    reason = serializers.CharField(max_length=500, allow_blank=True, default="")


class HistoryQuerySerializer(StrictJsonInput, serializers.Serializer):
    before = serializers.IntegerField(
        min_value=1, required=False, help_text="Only assignments with a smaller id (paging)."
    )
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


class HistoryEntrySerializer(serializers.Serializer):
    item = LabelingItemSerializer()
    assignment = HoldAssignmentSerializer()
    value = serializers.JSONField(allow_null=True)
    skipped = serializers.BooleanField()

    def to_representation(self, entry: Any) -> dict[str, Any]:
        return {
            "item": LabelingItemSerializer(entry.item, context=self.context).data,
            "assignment": HoldAssignmentSerializer(entry.assignment).data,
            "value": entry.annotation.value if entry.annotation else None,
            "skipped": entry.annotation is None,
        }


class HistoryOutputSerializer(serializers.Serializer):
    items = HistoryEntrySerializer(many=True, help_text="Newest first.")


class AssignInputSerializer(StrictJsonInput, serializers.Serializer):
    rater = serializers.CharField(help_text="Username of a member of the project.")
    item_ids = serializers.ListField(child=serializers.IntegerField(), default=list)
    item_keys = serializers.ListField(child=serializers.CharField(), default=list)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["item_ids"] and not attrs["item_keys"]:
            raise serializers.ValidationError("Give item_ids or item_keys.")
        if len(attrs["item_ids"]) + len(attrs["item_keys"]) > 10_000:
            raise serializers.ValidationError("At most 10,000 items per request.")
        return attrs


class AssignOutputSerializer(serializers.Serializer):
    assigned = serializers.ListField(child=serializers.IntegerField())
    already_held = serializers.ListField(child=serializers.IntegerField())
    full = serializers.ListField(child=serializers.IntegerField())
    unknown = serializers.ListField(child=serializers.CharField())


# --- annotation imports ------------------------------------------------------------------------


class AnnotationImportJobSerializer(JobSerializerMixin, serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = AnnotationImportJob
        fields = [
            "id", "project", "original_name", "format", "source", "row_count", "created_count",
            "changed_count", "unchanged_count", "closed_count", "external_rater_count",
            "created_by", *JOB_FIELDS,
        ]  # fmt: skip
        read_only_fields = fields


class AnnotationImportCreateInputSerializer(StrictJsonInput, serializers.Serializer):
    unknown_fields_refused = True

    file = serializers.FileField(
        help_text="CSV or JSON Lines: one row per label, with item_key, rater and value "
        "(optional created_at, time_spent_ms)."
    )
    format = serializers.ChoiceField(
        choices=AnnotationImportFormat.choices, default=AnnotationImportFormat.AUTO
    )
