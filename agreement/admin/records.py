"""Read-only pages a lead reads beside the conflict queue: every item's label of record (where
it comes from, how sure it is) and every decision taken on a conflict (who, when, from what to
what). Both are written only by agreement's services, so nobody edits or deletes them here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agreement.admin.page import NO_FIGURE
from agreement.models import LabelOfRecord, Resolution
from core.admin import NoDeleteMixin, ReadOnlyAdminMixin
from projects.admin import LeadProjectFilter, ProjectScopedAdmin
from projects.models import Project


def value_html(value: Any, project: Project) -> SafeString | str:
    """A stored value as coloured chips of its labels (the project's labels prefetched); a
    rating as its number."""
    if value is None:
        return NO_FIGURE
    labels = {label.value: label for label in project.labels.all()}
    values = value if isinstance(value, list) else [value]
    if not values:
        return "none of these"
    parts = []
    for stored in values:
        label = labels.get(str(stored))
        parts.append((label.color, label.display_name) if label else ("transparent", str(stored)))
    return format_html_join(
        " ", '<span class="cq-chip"><i style="--swatch: {}"></i>{}</span>', parts
    )


@admin.register(LabelOfRecord)
class LabelOfRecordAdmin(NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedAdmin):
    list_display = ["item_key", "project", "value_cell", "source", "method", "confidence_cell",
                    "updated_at"]  # fmt: skip
    list_filter = [("project", LeadProjectFilter), "source", "method"]
    search_fields = ["item__key"]
    search_help_text = "Search by item key."
    list_select_related = ["item", "project"]
    fields = readonly_fields = ("item", "project", "value_cell", "source", "method",
                                "confidence_cell", "annotations", "decision",
                                "updated_at")  # fmt: skip
    show_full_result_count = False

    class Media:
        css = {"all": ["css/conflicts.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[LabelOfRecord]:
        return super().get_queryset(request).prefetch_related("project__labels")

    @admin.display(description="item", ordering="item__key")
    def item_key(self, record: LabelOfRecord) -> str:
        return record.item.key

    @admin.display(description="value")
    def value_cell(self, record: LabelOfRecord) -> SafeString | str:
        return value_html(record.value, record.project)

    @admin.display(description="confidence", ordering="confidence")
    def confidence_cell(self, record: LabelOfRecord) -> str:
        return NO_FIGURE if record.confidence is None else f"{record.confidence:.0%}"

    @admin.display(description="lead's decision")
    def decision(self, record: LabelOfRecord) -> SafeString | str:
        if record.resolution_id is None:
            return NO_FIGURE
        resolution = Resolution.objects.select_related("conflict", "lead").get(
            pk=record.resolution_id
        )
        url = reverse("admin:agreement_conflict_change", args=[resolution.conflict_id])
        return format_html(
            '<a href="{}">{} on {:%d %b %Y %H:%M}</a>', url, resolution.lead,
            resolution.created_at,
        )  # fmt: skip


@admin.register(Resolution)
class ResolutionAdmin(NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedAdmin):
    """Every decision of a lead on a conflict, newest first."""

    scope_path = "conflict__project"
    list_display = ["created_at", "item_link", "project", "lead", "action", "change_cell",
                    "note"]  # fmt: skip
    list_filter = ["action", ("conflict__project", LeadProjectFilter)]
    search_fields = ["conflict__item__key"]
    search_help_text = "Search by item key."
    list_select_related = ["conflict__item", "conflict__project", "lead"]
    ordering = ["-created_at", "-id"]
    fields = readonly_fields = ("item_link", "project", "lead", "action", "status_before",
                                "status_after", "change_cell", "note", "created_at")  # fmt: skip
    show_full_result_count = False

    class Media:
        css = {"all": ["css/conflicts.css"]}

    def scope_id_of(self, obj: Any) -> int | None:
        return obj.conflict.project_id if isinstance(obj, Resolution) else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Resolution]:
        return super().get_queryset(request).prefetch_related("conflict__project__labels")

    @admin.display(description="item", ordering="conflict__item__key")
    def item_link(self, resolution: Resolution) -> SafeString:
        url = reverse("admin:agreement_conflict_change", args=[resolution.conflict_id])
        return format_html('<a href="{}">{}</a>', url, resolution.conflict.item.key)

    @admin.display(description="project")
    def project(self, resolution: Resolution) -> Project:
        return resolution.conflict.project

    @admin.display(description="label of record")
    def change_cell(self, resolution: Resolution) -> SafeString | str:
        project = resolution.conflict.project
        before = value_html(resolution.value_before, project)
        after = value_html(resolution.value_after, project)
        if resolution.value_before == resolution.value_after:
            return before
        return format_html("{} → {}", before, after)
