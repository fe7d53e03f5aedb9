"""The Django admin for assignments and annotations: read-only, scoped like `projects/admin.py`
(a staff lead sees the rows of the projects they lead; superusers see all).

Both are written only by `labeling.assignment` and `labeling.services`, which keep the items'
slot and annotation counts right; an annotation is the unit of lineage and keeps every value it
held as a revision. So nobody edits or deletes them here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin import NoDeleteMixin, ReadOnlyAdminMixin
from labeling.members import membership_remove
from labeling.models import Annotation, AnnotationRevision, Assignment
from labeling.selectors import annotation_gold_correct
from projects.admin import LeadProjectFilter, ProjectScopedAdmin, ProjectScopedInline
from projects.models import Membership, Role


@admin.register(Assignment)
class AssignmentAdmin(NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedAdmin):
    list_display = ["item", "rater", "status", "expires_at", "assigned_by", "is_gold",
                    "updated_at"]  # fmt: skip
    list_filter = ["status", "is_gold", ("project", LeadProjectFilter)]
    search_fields = ["item__key", "rater__username"]
    list_select_related = ["item", "rater", "assigned_by"]
    raw_id_fields = ["item", "rater", "assigned_by"]
    show_full_result_count = False


class AnnotationRevisionInline(
    NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedInline, admin.TabularInline
):
    model = AnnotationRevision
    fields = ["revision", "value", "client_id", "time_spent_ms", "created_at"]
    readonly_fields = ["revision", "value", "client_id", "time_spent_ms", "created_at"]
    extra = 0
    can_delete = False


@admin.register(Annotation)
class AnnotationAdmin(NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedAdmin):
    inlines = [AnnotationRevisionInline]
    list_display = ["item", "rater", "shown_value", "revision", "gold_result", "time_spent_ms",
                    "updated_at"]  # fmt: skip
    list_filter = [("project", LeadProjectFilter)]
    fields = ["project", "item", "rater", "shown_value", "gold_result", "revision", "client_id",
              "time_spent_ms", "created_at", "updated_at"]  # fmt: skip
    readonly_fields = ["project", "item", "rater", "shown_value", "gold_result", "revision",
                       "client_id", "time_spent_ms", "created_at", "updated_at"]  # fmt: skip
    search_fields = ["item__key", "rater__username"]
    list_select_related = ["item", "rater", "label"]
    raw_id_fields = ["item", "rater"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Annotation]:
        return super().get_queryset(request).prefetch_related("chosen__label")

    @admin.display(description="value")
    def shown_value(self, annotation: Annotation) -> str:
        value = annotation.value
        return ", ".join(value) if isinstance(value, list) else str(value)

    @admin.display(description="gold", boolean=True)
    def gold_result(self, annotation: Annotation) -> bool | None:
        """Right or wrong against the item's current gold answer; empty for a regular item."""
        return annotation_gold_correct(annotation)


# --- members: removing one gives back the items they hold ----------------------------------


def _is_last_lead(membership: Membership) -> bool:
    return (
        membership.role == Role.LEAD
        and not Membership.objects.filter(project_id=membership.project_id, role=Role.LEAD)
        .exclude(pk=membership.pk)
        .exists()
    )


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["project", "user", "role"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        instance = self.instance
        if instance.pk and cleaned.get("role") != Role.LEAD:
            stored = Membership.objects.get(pk=instance.pk)
            if _is_last_lead(stored):
                raise ValidationError("A project keeps at least one lead.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(ProjectScopedAdmin):
    """Members, with the services' rules: a project keeps a lead, and removing a member gives
    the items they hold back to the queue (membership_remove)."""

    form = MembershipAdminForm
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", ("project", LeadProjectFilter)]
    search_fields = ["user__username", "project__name"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "project"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and _is_last_lead(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(membership=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("project").order_by("pk"):
            try:
                membership_remove(membership=membership)
            except ValidationError as error:
                messages.warning(request, f"{membership}: {' '.join(error.messages)}")
