"""Small filters shared by every page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def thousands(value: Any) -> str:
    """12345 -> "12,345"; anything that is not a number is shown as it is."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def ago(value: datetime | None) -> str:
    """A past moment in words: "just now", "5 minutes ago", "3 days ago"."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.filter
def get_item(mapping: dict[str, Any] | None, key: str) -> Any:
    """`mapping[key]` in a template, or "" when it has none."""
    return (mapping or {}).get(key, "")
