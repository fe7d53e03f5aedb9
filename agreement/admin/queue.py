"""The conflict queue's filters: the changelist's own, and the same queue read back from the
filters a resolution page carries (Django's `_changelist_filters`), so that the page moves on
to the next conflict of the queue the lead opened it from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict

from agreement.models import Conflict, ConflictStatus
from agreement.selectors import conflict_label_pairs, conflicts_in_queue
from core.admin import is_superuser
from projects.admin import led_project_ids

PROJECT_PARAM = "project__id__exact"  # the project filter's (Django's related-field filter)
STATUS_PARAM = "status"
LABEL_PAIR_PARAM = "label_pair"
SEARCH_PARAM = SEARCH_VAR


class StatusFilter(admin.SimpleListFilter):
    """Open conflicts unless asked otherwise: the queue is what is left to decide."""

    title, parameter_name = "status", STATUS_PARAM

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        others = [(value, label) for value, label in ConflictStatus.choices if value != "open"]
        return [*others, ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "display": ConflictStatus.OPEN.label,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }
        yield from list(super().choices(changelist))[1:]  # Django's own "All" means no filter

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conflict]) -> QuerySet[Conflict]:
        if self.value() == "all":
            return queryset
        return queryset.filter(status=self.value() or ConflictStatus.OPEN)


class LabelPairFilter(admin.SimpleListFilter):
    """The pairs of labels the raters split between, as they occur in the user's conflicts (in
    the project filtered on, when one is)."""

    title, parameter_name = "label pair", LABEL_PAIR_PARAM

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        conflicts = model_admin.get_queryset(request)
        project = request.GET.get(PROJECT_PARAM, "")
        if project.isdigit():
            conflicts = conflicts.filter(project_id=int(project))
        return [(pair, f"{pair} ({n})") for pair, n in conflict_label_pairs(conflicts=conflicts)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conflict]) -> QuerySet[Conflict]:
        return queryset.filter(label_pair=self.value()) if self.value() else queryset


@dataclass(frozen=True)
class QueueFilters:
    """The filters of the queue a resolution page was opened from."""

    encoded: str  # the changelist's query string, as Django's admin preserves it
    project_id: int | None
    label_pair: str
    key_contains: str

    @classmethod
    def of(cls, request: HttpRequest) -> QueueFilters:
        params = QueryDict(request.GET.get("_changelist_filters", ""))
        project = params.get(PROJECT_PARAM, "")
        return cls(
            encoded=params.urlencode(),
            project_id=int(project) if project.isdigit() else None,
            label_pair=params.get(LABEL_PAIR_PARAM, ""),
            key_contains=params.get(SEARCH_PARAM, "").strip(),
        )

    def open_queue(self, request: HttpRequest) -> QuerySet[Conflict]:
        """The open conflicts of this queue that the user may see, in the queue's order."""
        led = None if is_superuser(request) else set(led_project_ids(request))
        wanted = None if self.project_id is None else {self.project_id}
        project_ids = wanted if led is None else (led if wanted is None else led & wanted)
        return conflicts_in_queue(
            project_ids=project_ids, label_pair=self.label_pair, key_contains=self.key_contains
        )
