"""Query-string filters for the items list.

`?status=open,labeled&key__in=a,b&is_gold=true&has_image=false&created_after=2025-01-01T00:00Z
&created_before=...&search=word&import_job=7`. A value that does not parse is a 400 naming the
parameter.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from projects.models import Item, ItemStatus


class CharInFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """A comma-separated list of strings."""


class StatusInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """A comma-separated list of item statuses."""


class ItemFilter(django_filters.FilterSet):
    status = StatusInFilter(
        field_name="status", lookup_expr="in", choices=ItemStatus.choices,
        help_text="One status or several, comma-separated.",
    )  # fmt: skip
    key = django_filters.CharFilter(field_name="key", help_text="Exact key.")
    key__in = CharInFilter(
        field_name="key", lookup_expr="in", help_text="Several keys, comma-separated."
    )
    is_gold = django_filters.BooleanFilter(field_name="is_gold", help_text="Leads only.")
    has_image = django_filters.BooleanFilter(method="filter_has_image")
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601)."
    )
    search = django_filters.CharFilter(
        field_name="text", lookup_expr="icontains", help_text="Text contains (any case)."
    )
    import_job = django_filters.NumberFilter(field_name="import_job_id")

    class Meta:
        model = Item
        fields: list[str] = []

    def filter_has_image(self, queryset: QuerySet[Item], name: str, value: bool) -> QuerySet[Item]:
        return queryset.filter(image__isnull=not value)
