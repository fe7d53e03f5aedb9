"""The Django admin for projects, scoped by project role.

Every lead enters the admin, staff or not (config/admin.py). Once in, what they see and edit
comes from their memberships, not from Django's model permissions: a lead sees and edits the
projects they lead and the objects in them, and nothing else; a staff user who leads no project
sees nothing. Superusers see and edit everything.

Writes that have a service go through it (the label schema); counters maintained under
concurrency (`slots_taken`, `annotation_count`, status) are read-only here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest

from core.admin import (
    ArchivedListFilter,
    ReadOnlyAdminMixin,
    ScopedAdmin,
    ScopedInline,
    is_superuser,
)
from core.jobs.models import JobStatus
from projects.admin import credentials as credentials  # registers the API tokens' admin
from projects.models import (
    ImageBlob,
    ImportJob,
    Item,
    Label,
    Membership,
    Project,
    Role,
)
from projects.selectors import project_has_annotations, projects_led_by
from projects.services.archive import (
    ARCHIVE_INSTEAD,
    project_archive,
    project_unarchive,
)
from projects.services.imports import import_job_retry
from projects.services.items import gold_value_clean, item_update
from projects.services.projects import (
    PROJECT_FIELDS,
    labels_validate,
    project_labels_set,
    project_schema_change_check,
)


def led_project_ids(request: HttpRequest) -> frozenset[int]:
    """Ids of the projects the user leads, looked up once per request."""
    cached = getattr(request, "_accord_led_project_ids", None)
    if cached is None:
        cached = frozenset(projects_led_by(user=request.user).values_list("pk", flat=True))
        request._accord_led_project_ids = cached  # type: ignore[attr-defined]
    return cached


class LeadProjectFilter(admin.RelatedFieldListFilter):
    """The project filter of a changelist, offering only the projects the user leads."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[Any]:
        return [(p.pk, str(p)) for p in projects_led_by(user=request.user).order_by("name", "pk")]


class LeadScoped:
    """A lead's scope is the projects they lead; an object belongs to its `project_id`."""

    def scope_ids(self, request: HttpRequest) -> frozenset[int]:
        return led_project_ids(request)

    def scope_id_of(self, obj: Any) -> int | None:
        return getattr(obj, "project_id", None)


class ProjectScopedAdmin(LeadScoped, ScopedAdmin):
    """A model admin scoped to the projects the user leads; `scope_path` is the lookup from the
    model to its project ("project", or "pk" for Project itself)."""

    scope_model = Project


class ProjectScopedInline(LeadScoped, ScopedInline):
    """An inline on a project's page: a lead may do to it what they may do to the project."""

    def scope_id_of(self, obj: Any) -> int | None:
        return obj.pk if isinstance(obj, Project) else getattr(obj, "project_id", None)


# --- projects, with their labels and members inline -------------------------------------------


class LabelFormSet(BaseInlineFormSet):
    """The label schema is saved whole through `project_labels_set` (see ProjectAdmin), so its
    rules (reserved and repeated hotkeys, at least one label) show as form errors here."""

    def kept_specs(self) -> list[dict[str, Any]]:
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("value")
        ]
        kept.sort(key=lambda data: data.get("position") or 0)
        return [
            {key: data.get(key) for key in ("value", "display_name", "color", "hotkey", "archived")}
            for data in kept
        ]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        labels_validate(project=self.instance, labels=self.kept_specs())


class LabelInline(ProjectScopedInline, admin.TabularInline):
    model = Label
    formset = LabelFormSet
    fields = ["position", "value", "display_name", "color", "hotkey", "archived"]
    extra = 1


class MembershipFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors) or self.instance.pk is None:
            return  # a new project: its creator becomes its lead (ProjectAdmin.save_related)
        leads = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("role") == Role.LEAD
        ]
        if not leads:
            raise ValidationError("A project keeps at least one lead.")


class MembershipInline(ProjectScopedInline, admin.TabularInline):
    """Members are added and their roles changed here; they are removed on the Memberships
    page (or the project's Members page), which gives back the items they hold."""

    model = Membership
    formset = MembershipFormSet
    can_delete = False
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]
    extra = 1


class ProjectAdminForm(forms.ModelForm):
    """Refuses, as the service does, a change of what the stored labels depend on."""

    class Meta:
        model = Project
        fields = [*PROJECT_FIELDS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.instance.pk is not None:
            stored = Project.objects.get(pk=self.instance.pk)
            try:
                project_schema_change_check(stored=stored, fields=cleaned)
            except ValidationError as error:
                raise ValidationError(error.messages) from None
        return cleaned


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    """A project with annotations cannot be deleted here (the delete page lists why and the
    "Archive" action is offered instead): deleting it would cascade away every annotation."""

    scope_path = "pk"
    form = ProjectAdminForm
    inlines = [LabelInline, MembershipInline]
    list_display = ["name", "content_type", "label_kind", "raters_per_item", "created_at",
                    "archived_at"]  # fmt: skip
    list_filter = [ArchivedListFilter, "content_type", "label_kind"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_by", "created_at", "updated_at", "archived_at"]
    actions = ["archive", "unarchive"]
    fieldsets = [
        (None, {"fields": ["name", "description", "instructions", "content_type"]}),
        ("Labels", {"fields": ["label_kind", ("rating_min", "rating_max"), "rater_fields"]}),
        ("Raters and queue", {"fields": ["raters_per_item", "lease_minutes", "gold_rate"]}),
        (
            "Planned: agreement and weak labels",
            {
                "fields": [
                    "agreement_rule",
                    "agreement_threshold",
                    "weak_labels_prefill",
                    "weak_labels_in_exports",
                    "weak_label_threshold",
                ],
                "classes": ["collapse"],
                "description": "Not built yet: these are kept for the agreement step and weak "
                "labels, and nothing uses them today.",
            },
        ),
        ("History", {"fields": ["created_by", "created_at", "updated_at", "archived_at"]}),
    ]

    def scope_id_of(self, obj: models.Model) -> int | None:
        return obj.pk

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # A lead may delete a project with everything in it; that its items, annotations and
        # jobs are read-only on their own pages is about editing them one by one.
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        # Listed as "protected", Django's delete page and action refuse the whole delete.
        protected = list(protected) + [
            f"{project}: it has annotations; {ARCHIVE_INSTEAD} (the “Archive” action)"
            for project in objs
            if project_has_annotations(project=project)
        ]
        return deleted, model_count, set(), protected

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An archived project is read-only here too; the actions archive and unarchive it.
        if obj is not None and obj.archived_at is not None:
            return False
        return super().has_change_permission(request, obj)

    @admin.action(description="Archive the selected projects (read-only, nothing lost)")
    def archive(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset.order_by("pk"):
            project_archive(project=project)
        self.message_user(request, "Archived; the “state” filter shows archived projects.")

    @admin.action(description="Unarchive the selected projects")
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset.order_by("pk"):
            project_unarchive(project=project)
        self.message_user(request, "Unarchived.")

    def save_model(self, request: HttpRequest, obj: Project, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Label:
            super().save_formset(request, form, formset, change)
            return
        # The whole schema in one service call: it keeps label ids by value and lets two labels
        # swap hotkeys, which saving the rows one by one would trip the unique index on.
        project_labels_set(project=form.instance, labels=formset.kept_specs())
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if not change and request.user.pk is not None:
            Membership.objects.get_or_create(
                project=form.instance, user_id=request.user.pk, defaults={"role": Role.LEAD}
            )


# --- the other project models -----------------------------------------------------------------


@admin.register(Label)
class LabelAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    """Labels are edited as the project's schema, on the project's page."""

    list_display = ["value", "display_name", "project", "hotkey", "color", "position"]
    list_filter = [("project", LeadProjectFilter)]
    search_fields = ["value", "display_name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ItemAdminForm(forms.ModelForm):
    class Meta:
        model = Item
        fields = ["priority", "is_gold", "gold_value"]

    def clean_gold_value(self) -> Any:
        value = self.cleaned_data.get("gold_value")
        if value is None:
            return None
        try:
            return gold_value_clean(project=self.instance.project, value=value)
        except ValidationError as error:
            raise ValidationError(error.message_dict["gold_value"]) from error


@admin.register(Item)
class ItemAdmin(ProjectScopedAdmin):
    """Items come from imports; here a lead reads them and sets priority and gold answers."""

    list_display = ["key", "project", "status", "annotation_count", "slots_taken", "priority",
                    "is_gold", "created_at"]  # fmt: skip
    list_filter = ["status", "is_gold", ("project", LeadProjectFilter)]
    search_fields = ["key", "text"]
    raw_id_fields = ["image", "import_job"]
    list_select_related = ["project"]
    form = ItemAdminForm
    readonly_fields = ["project", "key", "text", "data", "content_hash", "status",
                       "slots_taken", "annotation_count", "shuffle_key", "image", "import_job",
                       "created_at", "updated_at"]  # fmt: skip
    fields = ["project", "key", "text", "image", "data", "status", "slots_taken",
              "annotation_count", "priority", "is_gold", "gold_value", "content_hash",
              "shuffle_key", "import_job", "created_at", "updated_at"]  # fmt: skip
    show_full_result_count = False  # a count(*) over a big project on every page is slow

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Item, form: Any, change: bool) -> None:
        item_update(item=obj, **{name: form.cleaned_data[name] for name in form.changed_data})


@admin.register(ImageBlob)
class ImageBlobAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    """Images are shared by content hash across items (and projects): a lead sees those their
    projects use, and nobody edits one."""

    scope_path = "items__project"
    list_display = ["sha256", "format", "width", "height", "size_bytes", "created_at"]
    search_fields = ["sha256"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).distinct()

    def _may(self, request: HttpRequest, obj: models.Model | None) -> bool:
        return super()._may(request, None) and (
            obj is None
            or Item.objects.filter(image_id=obj.pk, project__in=led_project_ids(request)).exists()
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_superuser(request) and super().has_delete_permission(request, obj)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin):
    list_display = ["id", "original_name", "project", "status", "progress", "total",
                    "created_count", "duplicate_count", "error_count", "created_by",
                    "created_at"]  # fmt: skip
    list_filter = ["status", "source", ("project", LeadProjectFilter)]
    search_fields = ["original_name"]
    list_select_related = ["project", "created_by"]
    actions = ["retry"]

    @admin.action(description="Retry the selected failed imports")
    def retry(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        retried = 0
        for job in queryset.filter(status=JobStatus.FAILED).order_by("pk"):
            try:
                import_job_retry(job=job)
                retried += 1
            except ValidationError as error:
                self.message_user(request, "; ".join(error.messages), messages.WARNING)
        self.message_user(request, f"{retried} import(s) queued again.")
