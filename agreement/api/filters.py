"""Query-string filters of the agreement API. A value that does not parse is a 400 naming the
parameter; a list is comma-separated (`?status=open,waiting`)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from agreement.models import Conflict, ConflictStatus, ItemAgreement
from agreement.selectors import rater_ids_named
from labeling.models import Annotation
from projects.api.filters import (
    BoundedIsoDateTimeFilter,
    NoEmptyValue,
    StatusInFilter,
    StrictBooleanFilter,
)
from projects.api.permissions import url_project_id
from projects.models import ItemStatus

ITEM_KEY_HELP = "The item's exact key."
LABEL_PAIR_HELP = 'The two values most chosen, sorted, as "a | b".'


class ConflictFilter(django_filters.FilterSet):
    status = StatusInFilter(
        field_name="status", lookup_expr="in", choices=ConflictStatus.choices,
        help_text="One status or several, comma-separated.",
    )  # fmt: skip
    label_pair = django_filters.CharFilter(field_name="label_pair", help_text=LABEL_PAIR_HELP)
    item_key = django_filters.CharFilter(field_name="item__key", help_text=ITEM_KEY_HELP)

    class Meta:
        model = Conflict
        fields: list[str] = []


class AnnotationFilter(django_filters.FilterSet):
    rater = django_filters.CharFilter(
        method="filter_rater", help_text="A username, or an external rater's name."
    )
    item_key = django_filters.CharFilter(field_name="item__key", help_text=ITEM_KEY_HELP)
    updated_after = BoundedIsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte",
        help_text="Changed (or created) at or after this instant (ISO 8601).",
    )  # fmt: skip

    class Meta:
        model = Annotation
        fields: list[str] = []

    def filter_rater(
        self, queryset: QuerySet[Annotation], name: str, value: str
    ) -> QuerySet[Annotation]:
        # The raters are looked up first (one small query), so that the page's query filters by
        # their ids, which its indexes serve.
        view = self.request.parser_context.get("view") if self.request else None  # type: ignore[attr-defined]
        project_id = url_project_id(view)
        assert project_id is not None
        return queryset.filter(rater_id__in=rater_ids_named(project_id=project_id, name=value))


class ShareField(NoEmptyValue, forms.FloatField):
    """A share from 0 to 1 (a finite number: Django's FloatField refuses inf and nan)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0.0)
        kwargs.setdefault("max_value", 1.0)
        super().__init__(*args, **kwargs)


class ShareFilter(django_filters.NumberFilter):
    field_class = ShareField


class ItemAgreementFilter(django_filters.FilterSet):
    passes = StrictBooleanFilter(field_name="passes", help_text="Meets the project's rule.")
    tie = StrictBooleanFilter(field_name="tie")
    status = StatusInFilter(
        field_name="item__status", lookup_expr="in", choices=ItemStatus.choices,
        help_text="The item's status: one or several, comma-separated.",
    )  # fmt: skip
    label_pair = django_filters.CharFilter(field_name="label_pair", help_text=LABEL_PAIR_HELP)
    min_observed = ShareFilter(
        field_name="observed", lookup_expr="gte",
        help_text="Share of agreeing rater pairs at least this (0-1).",
    )  # fmt: skip
    max_observed = ShareFilter(
        field_name="observed", lookup_expr="lte",
        help_text="Share of agreeing rater pairs at most this (0-1).",
    )  # fmt: skip
    item_key = django_filters.CharFilter(field_name="item__key", help_text=ITEM_KEY_HELP)

    class Meta:
        model = ItemAgreement
        fields: list[str] = []
