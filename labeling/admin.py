"""The Django admin for assignments and annotations: read-only, scoped like `projects/admin.py`
(a staff lead sees the rows of the projects they lead; superusers see all).

Both are written only by `labeling.assignment` and `labeling.services`, which keep the items'
slot and annotation counts right; an annotation is the unit of lineage and keeps every value it
held as a revision. So nobody edits or deletes them here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from labeling.models import Annotation, AnnotationRevision, Assignment
from projects.admin import (
    LeadProjectFilter,
    ProjectScopedAdmin,
    ProjectScopedInline,
    ReadOnlyAdminMixin,
)


class NoDeleteMixin:
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    list_display = ["item", "rater", "value", "revision", "gold_correct", "time_spent_ms",
                    "updated_at"]  # fmt: skip
    list_filter = ["gold_correct", ("project", LeadProjectFilter)]
    search_fields = ["item__key", "rater__username"]
    list_select_related = ["item", "rater"]
    raw_id_fields = ["item", "rater"]
    show_full_result_count = False
