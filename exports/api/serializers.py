"""Input and output of the datasets API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from core.api.strict import StrictJsonInput
from core.jobs.api import JOB_FIELDS, JobSerializerMixin
from core.jobs.models import JobStatus
from exports.diffs import DIFF_KINDS
from exports.models import DatasetFile, DatasetVersion, VersionOutcome


def _absolute(context: Mapping[str, Any], route: str, **kwargs: Any) -> str:
    path = reverse(route, kwargs=kwargs)
    request = context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


class DatasetVersionSerializer(JobSerializerMixin, serializers.ModelSerializer[DatasetVersion]):
    """A version in a list: what it is, how its build went, and where its parts are."""

    label = serializers.CharField(  # type: ignore[assignment]  # the version's, not Field.label
        read_only=True, help_text='"v3"; "build 17" before a number.'
    )
    is_ready = serializers.BooleanField(
        read_only=True, help_text="Built, numbered and complete: its files can be read."
    )
    outcome = serializers.ChoiceField(
        choices=[("", "Not finished"), *VersionOutcome.choices], read_only=True,
        help_text="`built`, or `unchanged` (same spec and labels as `parent`, no files of its "
        "own); empty until the build ends.",
    )  # fmt: skip
    parent_label = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    manifest_url = serializers.SerializerMethodField()
    files_url = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id", "project", "number", "label", "name", "note", "is_ready", "outcome", "parent",
            "parent_label", "spec", "spec_hash", "content_hash", "row_count", "label_counts",
            "split_counts", "created_by", "ready_at", "url", "manifest_url", "files_url",
            *JOB_FIELDS,
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "number": {"help_text": "v1, v2, ... given when ready; null before, and for an "
                       "unchanged build."},
            "parent": {"help_text": "The latest ready version when this one became ready; for "
                       "an unchanged build, the version it is the same as."},
        }  # fmt: skip

    def _ref(self, version: DatasetVersion) -> dict[str, Any]:
        return {"project_pk": version.project_id, "version": str(version.pk)}

    def get_parent_label(self, version: DatasetVersion) -> str | None:
        return version.parent.label if version.parent is not None else None

    def get_created_by(self, version: DatasetVersion) -> str | None:
        return version.created_by.get_username() if version.created_by is not None else None

    def get_url(self, version: DatasetVersion) -> str:
        return _absolute(self.context, "api-dataset-version-detail", **self._ref(version))

    def get_manifest_url(self, version: DatasetVersion) -> str:
        return _absolute(self.context, "api-dataset-version-manifest", **self._ref(version))

    def get_files_url(self, version: DatasetVersion) -> str:
        return _absolute(self.context, "api-dataset-version-files", **self._ref(version))


class DatasetVersionDetailSerializer(DatasetVersionSerializer):
    """A version with its validation against its parent (the manifest's `validation`)."""

    class Meta(DatasetVersionSerializer.Meta):
        fields = [*DatasetVersionSerializer.Meta.fields, "validation"]
        read_only_fields = fields


class DatasetFileSerializer(serializers.ModelSerializer[DatasetFile]):
    url = serializers.SerializerMethodField(
        help_text="Where to download it: by the version's id, so the URL never changes."
    )

    class Meta:
        model = DatasetFile
        fields = ["name", "kind", "content_type", "size", "sha256", "url"]
        read_only_fields = fields

    def get_url(self, file: DatasetFile) -> str:
        version = self.context["version"]
        return _absolute(
            self.context, "api-dataset-file", project_pk=version.project_id,
            version=str(version.pk), name=file.name,
        )  # fmt: skip


class VersionCreateInputSerializer(StrictJsonInput, serializers.Serializer[Any]):
    unknown_fields_refused = True
    spec = serializers.DictField(
        help_text="The spec: `sources`, `min_confidence`, `fields`, `splits`, `salt`, "
        "`freeze_test`, `formats` (the README's Dataset versions section says what each means)."
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class VersionListQuerySerializer(StrictJsonInput, serializers.Serializer[Any]):
    status = serializers.CharField(
        required=False,
        help_text="One status or several, comma-separated: pending, running, succeeded, failed.",
    )

    def validate_status(self, value: str) -> list[str]:
        statuses = [part.strip() for part in value.split(",")]
        unknown = [part for part in statuses if part not in JobStatus.values]
        if unknown:
            raise serializers.ValidationError(
                f"'{unknown[0]}' is no status; use {', '.join(JobStatus.values)}."
            )
        return statuses


# --- the diff ------------------------------------------------------------------------------------


class DiffQuerySerializer(StrictJsonInput, serializers.Serializer[Any]):
    from_ = serializers.CharField(
        help_text="The older version: its id, v<number> or latest.", max_length=30
    )
    to = serializers.CharField(
        help_text="The newer version: its id, v<number> or latest.", max_length=30
    )
    kind = serializers.ChoiceField(
        choices=list(DIFF_KINDS), required=False,
        help_text="Only this kind of item, a page at a time (with `cursor`).",
    )  # fmt: skip
    cursor = serializers.CharField(
        required=False, max_length=1000, help_text="From `next` of the page before."
    )
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=1000, default=100,
        help_text="Items per page of each kind, 100 by default, at most 1000.",
    )  # fmt: skip

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # a keyword in Python, the parameter's name in URLs
        return fields


class VersionRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # the version's


class TransitionSerializer(serializers.Serializer[Any]):
    source = serializers.CharField(  # type: ignore[assignment]  # the transition's
        help_text="Label (or split) in `from`; a multi-label set as its labels joined by '|'."
    )
    target = serializers.CharField(help_text="Label (or split) in `to`.")
    count = serializers.IntegerField()


class DiffRowSerializer(serializers.Serializer[Any]):
    item_key = serializers.CharField()
    from_label = serializers.CharField(allow_null=True, help_text="null: not in `from`.")
    to_label = serializers.CharField(allow_null=True, help_text="null: not in `to`.")
    from_split = serializers.CharField(allow_null=True)
    to_split = serializers.CharField(allow_null=True)


class DiffPageSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=list(DIFF_KINDS))
    count = serializers.IntegerField(help_text="Items of this kind in all.")
    next = serializers.URLField(
        allow_null=True, help_text="The next page of this kind; null on the last."
    )
    results = DiffRowSerializer(many=True)


class DiffCountsSerializer(serializers.Serializer[Any]):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    relabeled = serializers.IntegerField()
    changed = serializers.IntegerField(
        help_text="Same label, another row: a split, text, confidence or other field moved."
    )
    unchanged = serializers.IntegerField()


class DiffSerializer(serializers.Serializer[Any]):
    from_ = VersionRefSerializer()
    to = VersionRefSerializer()
    counts = DiffCountsSerializer()
    transitions = TransitionSerializer(
        many=True, help_text="Relabeled items by (old label, new label), most first."
    )
    split_moves = TransitionSerializer(many=True, help_text="Items whose split changed.")
    added = DiffPageSerializer()
    removed = DiffPageSerializer()
    relabeled = DiffPageSerializer()
    changed = DiffPageSerializer()

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields
