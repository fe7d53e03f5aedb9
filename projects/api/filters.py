"""Query-string filters for the items list.

`?status=open,labeled&key__in=a,b&is_gold=true&has_image=false&created_after=2025-01-01T00:00Z
&created_before=...&search=word&import_job=7`. A value that does not parse is a 400 naming the
parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField

from projects.models import Item, ItemStatus

# PostgreSQL refuses offsets beyond +-15:59 ("time zone displacement out of range"); Python
# accepts up to +-23:59.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)


class NoEmptyValue:
    """For a filter's form field: an empty value (`?created_after=`) is a mistake to name, not a
    filter to drop quietly; an absent parameter is no filter."""

    def clean(self, value: Any) -> Any:
        if value == "":
            raise forms.ValidationError(
                "Give a value, or leave the parameter out.", code="required"
            )
        return super().clean(value)  # type: ignore[misc]


class BoundedIsoDateTimeField(NoEmptyValue, IsoDateTimeField):
    """An ISO 8601 date-time that every database can compare: its offset within +-15:59 and its
    instant within the years 1-9999 once in UTC (SQLite compares in UTC, and Python cannot
    represent year 0 or 10000)."""

    def to_python(self, value: Any) -> datetime | None:
        parsed: datetime | None = super().to_python(value)
        if parsed is None:
            return None
        offset = parsed.utcoffset()
        if offset is not None and abs(offset) > MAX_UTC_OFFSET:
            raise forms.ValidationError(
                "The time-zone offset is out of range: it must be within -15:59 and +15:59.",
                code="invalid",
            )
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(
                "The date-time is out of range once in UTC.", code="invalid"
            ) from None
        return parsed


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class StrictBooleanField(NoEmptyValue, forms.NullBooleanField):
    """true or false (1 or 0); absent is no filter. Django's own field reads any other
    text ("null", "yes please") as no filter, which hides a client's mistake."""

    widget = forms.TextInput  # the text as sent: the usual widgets map unknown text to None

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]
        if value is None:
            return None
        if value in ("true", "True", "1"):
            return True
        if value in ("false", "False", "0"):
            return False
        raise forms.ValidationError("Expected true or false.", code="invalid")

    def validate(self, value: Any) -> None:
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


class IdField(NoEmptyValue, forms.IntegerField):
    pass


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number (NumberFilter takes any decimal, 1e999 and NaN included)."""

    field_class = IdField


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
    is_gold = StrictBooleanFilter(field_name="is_gold", help_text="Leads only.")
    has_image = StrictBooleanFilter(method="filter_has_image")
    created_after = BoundedIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = BoundedIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601)."
    )
    search = django_filters.CharFilter(
        field_name="text", lookup_expr="icontains", help_text="Text contains (any case)."
    )
    import_job = IdFilter(field_name="import_job_id")

    class Meta:
        model = Item
        fields: list[str] = []

    def filter_has_image(self, queryset: QuerySet[Item], name: str, value: bool) -> QuerySet[Item]:
        return queryset.filter(image__isnull=not value)
