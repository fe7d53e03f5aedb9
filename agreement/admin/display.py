"""Small pieces of HTML the agreement admin's lists share: a missing figure, a share as a
percentage, a moment, and label values as coloured chips (static/css/conflicts.css)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from projects.models import Label

NO_FIGURE = "\N{EN DASH}"  # where a figure is not known (yet)
# A conflict's status in a word, for its badge (the full wording shows on hover).
STATUS_WORDS = {"open": "Open", "waiting": "Waiting", "resolved": "Resolved",
                "ambiguous": "Ambiguous", "settled": "Settled"}  # fmt: skip


def status_html(status: str, wording: str) -> SafeString:
    return format_html(
        '<span class="cq-status cq-{}" title="{}">{}</span>', status, wording,
        STATUS_WORDS.get(status, wording),
    )  # fmt: skip


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
    chips = SafeString()
    for value in values:
        label = by_value.get(str(value))
        if label is None:  # a rating, or a label no longer in the schema
            chips += format_html('<span class="cq-chip">{}</span>', value)
        else:
            chip = '<span class="cq-chip"><i style="--swatch: {}"></i>{}</span>'
            chips += format_html(chip, label.color, label.display_name)
    return format_html('<span class="cq-chips">{}</span>', chips)


def value_html(value: Any, labels: Iterable[Label]) -> SafeString | str:
    """A stored value (one label, several, or a rating) as chips; none as a dash."""
    if value is None:
        return NO_FIGURE
    if isinstance(value, list) and not value:
        return "none of these"
    return chips_html(value if isinstance(value, list) else [value], labels)
