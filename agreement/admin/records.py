"""Read-only pages a lead reads beside the conflict queue: every item's label of record (where
it comes from, how sure it is) and every decision taken on a conflict (who, when, from what to
what). Both are written only by agreement's services, so nobody edits or deletes them here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from agreement.admin.display import NO_FIGURE, percent, value_html, when_html
from agreement.models import LabelOfRecord, Resolution
from core.admin import NoDeleteMixin, ReadOnlyAdminMixin
from projects.admin import LeadProjectFilter, ProjectScopedAdmin
from projects.models import Project


def conflict_link(conflict_id: int, key: str) -> SafeString:
    url = reverse("admin:agreement_conflict_change", args=[conflict_id])
    return format_html('<a href="{}"><code class="cq-key">{}</code></a>', url, key)


class RecordsAdmin(NoDeleteMixin, ReadOnlyAdminMixin, ProjectScopedAdmin):
    empty_value_display = NO_FIGURE
    show_full_result_count = False  # a count(*) over a big project on every page is slow
    title = ""

    class Media:
        css = {"all": ["css/conflicts.css"]}

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(request, {"title": self.title, **(extra_context or {})})


@admin.register(LabelOfRecord)
class LabelOfRecordAdmin(RecordsAdmin):
    title = "Labels of record"
    list_display = ["item_key", "project", "value_cell", "source", "method", "confidence_cell",
                    "updated_cell"]  # fmt: skip
    list_filter = [("project", LeadProjectFilter), "source", "method"]
    search_fields = ["item__key"]
    search_help_text = "Search by item key."
    list_select_related = ["item", "project"]
    fields = readonly_fields = ("item", "project", "value_cell", "source", "method",
                                "confidence_cell", "annotations", "decision",
                                "updated_at")  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[LabelOfRecord]:
        return super().get_queryset(request).prefetch_related("project__labels")

    @admin.display(description="item", ordering="item__key")
    def item_key(self, record: LabelOfRecord) -> SafeString:
        return format_html('<code class="cq-key">{}</code>', record.item.key)

    @admin.display(description="value")
    def value_cell(self, record: LabelOfRecord) -> SafeString | str:
        return value_html(record.value, record.project.labels.all())

    @admin.display(description="confidence", ordering="confidence")
    def confidence_cell(self, record: LabelOfRecord) -> str:
        return percent(record.confidence)

    @admin.display(description="updated", ordering="updated_at")
    def updated_cell(self, record: LabelOfRecord) -> SafeString:
        return when_html(record.updated_at)

    @admin.display(description="lead's decision")
    def decision(self, record: LabelOfRecord) -> SafeString | str:
        if record.resolution_id is None:
            return NO_FIGURE
        resolution = Resolution.objects.select_related("conflict__item", "lead").get(
            pk=record.resolution_id
        )
        return format_html(
            "{} by {}, {}", conflict_link(resolution.conflict_id, resolution.conflict.item.key),
            resolution.lead, when_html(resolution.created_at),
        )  # fmt: skip


@admin.register(Resolution)
class ResolutionAdmin(RecordsAdmin):
    """Every decision of a lead on a conflict, newest first."""

    title = "Decisions on conflicts"
    scope_path = "conflict__project"
    list_display = ["created_cell", "item_link", "project", "lead", "action", "change_cell",
                    "note"]  # fmt: skip
    list_display_links = ["created_cell"]
    list_filter = ["action", ("conflict__project", LeadProjectFilter)]
    search_fields = ["conflict__item__key"]
    search_help_text = "Search by item key."
    list_select_related = ["conflict__item", "conflict__project", "lead"]
    ordering = ["-created_at", "-id"]
    fields = readonly_fields = ("item_link", "project", "lead", "action", "status_before",
                                "status_after", "change_cell", "note", "created_at")  # fmt: skip

    def scope_id_of(self, obj: Any) -> int | None:
        return obj.conflict.project_id if isinstance(obj, Resolution) else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Resolution]:
        return super().get_queryset(request).prefetch_related("conflict__project__labels")

    @admin.display(description="when", ordering="created_at")
    def created_cell(self, resolution: Resolution) -> SafeString:
        return when_html(resolution.created_at)

    @admin.display(description="item", ordering="conflict__item__key")
    def item_link(self, resolution: Resolution) -> SafeString:
        return conflict_link(resolution.conflict_id, resolution.conflict.item.key)

    @admin.display(description="project")
    def project(self, resolution: Resolution) -> Project:
        return resolution.conflict.project

    @admin.display(description="label of record")
    def change_cell(self, resolution: Resolution) -> SafeString | str:
        labels = resolution.conflict.project.labels.all()
        before = value_html(resolution.value_before, labels)
        if resolution.value_before == resolution.value_after:
            return before
        after = value_html(resolution.value_after, labels)
        return format_html('<span class="cq-change">{} → {}</span>', before, after)
