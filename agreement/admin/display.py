"""Small pieces of HTML the agreement admin's lists share: a missing figure, a share as a
percentage, a moment, and label values as coloured chips (static/css/conflicts.css)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from projects.models import Label

NO_FIGURE = "\N{EN DASH}"  # where a figure is not known (yet)


def percent(share: float | None) -> str:
    return NO_FIGURE if share is None else f"{share:.0%}"


def when_html(at: datetime) -> SafeString:
    """A moment, short (the year is rarely in doubt in a queue), whole on hover."""
    local = timezone.localtime(at)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', local.isoformat(), local,
        f"{local:%d %b %Y %H:%M}" if local.year != timezone.localtime().year
        else f"{local:%d %b %H:%M}",
    )  # fmt: skip


def chips_html(values: Iterable[Any], labels: Iterable[Label]) -> SafeString:
    """Label values as chips with their labels' colours (a value no label has, as it is)."""
    by_value = {label.value: label for label in labels}
    parts = []
    for value in values:
        label = by_value.get(str(value))
        parts.append((label.color, label.display_name) if label else ("transparent", str(value)))
    chips = format_html_join(
        "", '<span class="cq-chip"><i style="--swatch: {}"></i>{}</span>', parts
    )
    return format_html('<span class="cq-chips">{}</span>', chips)


def value_html(value: Any, labels: Iterable[Label]) -> SafeString | str:
    """A stored value (one label, several, or a rating) as chips; none as a dash."""
    if value is None:
        return NO_FIGURE
    if isinstance(value, list) and not value:
        return "none of these"
    return chips_html(value if isinstance(value, list) else [value], labels)
