"""Small input and output serializers for the projects API.

Input serializers validate shapes and types only; the services validate business rules. Output
serializers read what the views' querysets have already loaded (no query per row).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.strict import StrictJsonInput
from core.jobs.api import JOB_FIELDS, JobSerializerMixin
from projects.markdown import render_markdown
from projects.models import (
    ApiToken,
    ImageBlob,
    ImportFormat,
    ImportJob,
    Item,
    ItemStatus,
    Label,
    Membership,
    Project,
    Role,
)
from projects.services.projects import PROJECT_FIELDS

User = get_user_model()


# --- labels ------------------------------------------------------------------------------------


class LabelSerializer(serializers.ModelSerializer[Label]):
    class Meta:
        model = Label
        fields = ["id", "value", "display_name", "color", "hotkey", "position", "archived"]
        read_only_fields = fields


class LabelInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    value = serializers.CharField(max_length=100)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    color = serializers.CharField(max_length=7, required=False, allow_blank=True)
    hotkey = serializers.CharField(max_length=1, required=False, allow_blank=True)
    archived = serializers.BooleanField(
        required=False, help_text="Hidden from raters; kept for the annotations that use it."
    )


class LabelUpdateInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    value = serializers.CharField(max_length=100, required=False, help_text="Cannot change.")
    display_name = serializers.CharField(max_length=200, required=False)
    color = serializers.CharField(max_length=7, required=False)
    hotkey = serializers.CharField(max_length=1, required=False, allow_blank=True)
    position = serializers.IntegerField(min_value=0, required=False)
    archived = serializers.BooleanField(
        required=False, help_text="Hidden from raters; kept for the annotations that use it."
    )


# --- projects ----------------------------------------------------------------------------------


class ProjectSerializer(serializers.ModelSerializer[Project]):
    """A project with its label schema and the caller's role in it."""

    labels = LabelSerializer(many=True, read_only=True)
    my_role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", *PROJECT_FIELDS, "labels", "my_role", "archived_at", "created_at",
                  "updated_at"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_my_role(self, project: Project) -> str | None:
        return getattr(project, "my_role", None)


class ItemCountsSerializer(serializers.Serializer[dict[str, int]]):
    total = serializers.IntegerField()
    open = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    labeled = serializers.IntegerField()
    agreed = serializers.IntegerField()
    conflict = serializers.IntegerField()
    resolved = serializers.IntegerField()


class ProjectDetailSerializer(ProjectSerializer):
    """A project with its schema, its items counted by status and its rendered instructions."""

    instructions_html = serializers.SerializerMethodField()
    item_counts = serializers.SerializerMethodField()

    class Meta(ProjectSerializer.Meta):
        fields = [*ProjectSerializer.Meta.fields, "instructions_html", "item_counts"]
        read_only_fields = fields

    def get_instructions_html(self, project: Project) -> str:
        return render_markdown(project.instructions)

    @extend_schema_field(ItemCountsSerializer)
    def get_item_counts(self, project: Project) -> dict[str, int]:
        return self.context["item_counts"]


class ProjectInputSerializer(StrictJsonInput, serializers.ModelSerializer[Project]):
    """Project settings as a client sends them; the services check the rules across fields."""

    rater_fields = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=100,
        required=False,
        help_text="Names of the items' data fields raters see beside the text or image.",
    )

    class Meta:
        model = Project
        fields = list(PROJECT_FIELDS)


class ProjectCreateInputSerializer(ProjectInputSerializer):
    labels = LabelInputSerializer(many=True, required=False)

    class Meta(ProjectInputSerializer.Meta):
        fields = [*PROJECT_FIELDS, "labels"]


# --- members -----------------------------------------------------------------------------------


class UserBriefSerializer(serializers.Serializer[AbstractBaseUser]):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class MemberSerializer(serializers.ModelSerializer[Membership]):
    user = UserBriefSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]
        read_only_fields = fields


class MemberAddInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    """Name the user by `username` or by `user_id` (one of them)."""

    username = serializers.CharField(required=False)
    user_id = serializers.IntegerField(required=False)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.RATER)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        username, user_id = attrs.pop("username", None), attrs.pop("user_id", None)
        if (username is None) == (user_id is None):
            raise serializers.ValidationError("Give either username or user_id (exactly one).")
        user = (
            User.objects.filter(username=username, is_active=True).first()
            if username is not None
            else User.objects.filter(pk=user_id, is_active=True).first()
        )
        if user is None:
            named = f"named {username!r}" if username is not None else f"with id {user_id}"
            raise serializers.ValidationError(f"No active user {named}.")
        attrs["user"] = user
        return attrs


class MemberUpdateInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    role = serializers.ChoiceField(choices=Role.choices)


# --- items -------------------------------------------------------------------------------------


class ImageSerializer(serializers.ModelSerializer[ImageBlob]):
    class Meta:
        model = ImageBlob
        fields = ["sha256", "format", "width", "height", "size_bytes"]
        read_only_fields = fields


LEADS = "Leads only: absent for raters."


class ItemSerializer(serializers.ModelSerializer[Item]):
    """An item as a rater sees it: its content only. Nothing about gold, and neither status nor
    counts: gold items, outside k, would stand out by their counts, and `agreed` / `conflict`
    would tell a rater how other raters labeled."""

    image = ImageSerializer(read_only=True, allow_null=True)
    image_url = serializers.SerializerMethodField(help_text="Same authentication as this API.")
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = [
            "id", "key", "text", "image", "image_url", "thumbnail_url", "data", "priority",
            "import_job", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def _file_url(self, item: Item, name: str) -> str | None:
        if item.image_id is None:
            return None
        return reverse(name, kwargs={"project_pk": item.project_id, "pk": item.pk})

    def get_image_url(self, item: Item) -> str | None:
        return self._file_url(item, "api-item-image")

    def get_thumbnail_url(self, item: Item) -> str | None:
        return self._file_url(item, "api-item-thumbnail")


class ItemLeadSerializer(ItemSerializer):
    """An item as a lead sees it, with its gold answer."""

    gold_value = serializers.JSONField(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=ItemStatus.choices, read_only=True)

    class Meta(ItemSerializer.Meta):
        fields = [
            *ItemSerializer.Meta.fields, "status", "slots_taken", "annotation_count", "is_gold",
            "gold_value",
        ]  # fmt: skip
        read_only_fields = fields


class ItemAnyRoleSerializer(ItemSerializer):
    """The schema's account of an item (never used to serialize): a rater's fields, which every
    caller gets, and a lead's, which only leads get and so are not required."""

    status = serializers.ChoiceField(choices=ItemStatus.choices, required=False, help_text=LEADS)
    slots_taken = serializers.IntegerField(required=False, help_text=LEADS)
    annotation_count = serializers.IntegerField(required=False, help_text=LEADS)
    is_gold = serializers.BooleanField(required=False, help_text=LEADS)
    gold_value = serializers.JSONField(required=False, allow_null=True, help_text=LEADS)

    class Meta(ItemSerializer.Meta):
        fields = ItemLeadSerializer.Meta.fields
        read_only_fields = ItemSerializer.Meta.fields


class ItemUpdateInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    priority = serializers.FloatField(required=False)
    gold_value = serializers.JSONField(
        required=False, allow_null=True,
        help_text="A label value (single), a list of them (multi) or a number (rating).",
    )  # fmt: skip
    is_gold = serializers.BooleanField(required=False)


# --- import jobs -------------------------------------------------------------------------------


class ImportJobSerializer(JobSerializerMixin, serializers.ModelSerializer[ImportJob]):
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ImportJob
        fields = [
            "id", "project", "original_name", "format", "source", "created_count",
            "duplicate_count", "created_by", *JOB_FIELDS,
        ]  # fmt: skip
        read_only_fields = fields


class ImportJobCreateInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    unknown_fields_refused = True

    file = serializers.FileField(help_text="CSV, JSONL, a JSON array, or a ZIP of images.")
    format = serializers.ChoiceField(choices=ImportFormat.choices, default=ImportFormat.AUTO)


# --- tokens and the caller ---------------------------------------------------------------------


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "is_active"]
        read_only_fields = fields


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Shown this once; only a hash of it is stored."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class ApiTokenCreateInputSerializer(StrictJsonInput, serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=100, help_text="What uses it, e.g. 'nightly export'.")


class MyMembershipSerializer(serializers.ModelSerializer[Membership]):
    project_name = serializers.CharField(source="project.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["project", "project_name", "role"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer[AbstractBaseUser]):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    is_staff = serializers.BooleanField(read_only=True)
    is_superuser = serializers.BooleanField(read_only=True)
    auth = serializers.SerializerMethodField(help_text="'token' or 'session'.")
    memberships = serializers.SerializerMethodField()

    def get_auth(self, user: AbstractBaseUser) -> str:
        return "token" if isinstance(self.context["request"].auth, ApiToken) else "session"

    @extend_schema_field(MyMembershipSerializer(many=True))
    def get_memberships(self, user: AbstractBaseUser) -> Any:
        return MyMembershipSerializer(self.context["memberships"], many=True).data
