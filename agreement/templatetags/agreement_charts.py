"""Charts of the agreement pages, drawn here as inline SVG: no script, no charting library.

Each chart is an `<svg role="img">` with an accessible name and a `<title>` on every mark (a
pointer shows the figure; a screen reader reads the name), sized by its viewBox so that it scales
with its card. Colours come from the page's CSS variables where the stylesheet can set them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

NO_FIGURE = "\u2013"  # an en dash
MINUS = "\u2212"


def _pct(value: float | None) -> str:
    return "no figure" if value is None else f"{100 * value:.1f}%"


def _fmt(x: float) -> str:
    return f"{x:.1f}"


@register.simple_tag
def week_chart(
    weekly: Sequence[dict[str, Any]], label: str = "Agreement per week",
    legend: str = "Line: observed agreement · grey bars: items whose last label came that week",
    unit: str = "items",
) -> SafeString:  # fmt: skip
    """Agreement per week (a line, 0-100%) and how many it rests on (grey bars along the
    bottom, scaled to the busiest week): `weekly` is a list of {week, observed_agreement,
    items}."""
    if not weekly:
        return mark_safe("")
    width, height = 680, 230
    left, right, top, bottom = 44, 12, 12, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(weekly)
    step = plot_w / max(n, 1)
    most = max(int(w["items"]) for w in weekly) or 1
    parts = [
        f'<svg class="chart chart-weeks" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_fmt(y)}" y2="{_fmt(y)}"/>'
            f'<text class="axis" x="{left - 6}" y="{_fmt(y + 4)}" text-anchor="end">'
            f"{int(tick * 100)}%</text>"
        )
    points = []
    every = max(1, round(n / 10))  # at most about ten week labels
    for i, week in enumerate(weekly):
        x = left + step * (i + 0.5)
        bar = (plot_h * 0.22) * int(week["items"]) / most
        parts.append(
            format_html(
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}'
                "</title></rect>",
                _fmt(x - step * 0.3),
                _fmt(top + plot_h - bar),
                _fmt(step * 0.6),
                _fmt(bar),
                week["week"],
                f"{int(week['items']):,}",
                unit,
            )
        )
        if i % every == 0 or i == n - 1:
            parts.append(
                format_html(
                    '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                    _fmt(x),
                    height - bottom + 18,
                    week["week"],
                )
            )
        value = week.get("observed_agreement")
        if value is not None:
            points.append((x, top + plot_h * (1 - float(value)), week))
    if len(points) > 1:
        path = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y, _ in points)
        parts.append(f'<polyline class="line" points="{path}"/>')
    for x, y, week in points:
        parts.append(
            format_html(
                '<circle class="dot" cx="{}" cy="{}" r="4"><title>{}: {} agreement over {} {}'
                "</title></circle>",
                _fmt(x),
                _fmt(y),
                week["week"],
                _pct(week["observed_agreement"]),
                f"{int(week['items']):,}",
                unit,
            )
        )
    parts.append(
        format_html(
            '<text class="axis legend-text" x="{}" y="{}">{}</text>', left, height - 8, legend
        )
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))


@register.simple_tag
def heatmap(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], columns: Sequence[str] | None = None,
    label: str = "Raters' labels against the consensus",
) -> SafeString:  # fmt: skip
    """A count matrix as coloured cells: each row's cells shaded by their share of the row (the
    diagonal, where rows and columns name the same label, in green; the rest in amber), with
    the count written in the cell."""
    if not matrix:
        return mark_safe("")
    columns = columns or labels
    rows, cols = len(matrix), len(matrix[0])
    cell = 58
    left = min(160, 14 + 8 * max(len(str(x)) for x in labels))
    top = 44
    width, height = left + cols * cell + 4, top + rows * cell + 30
    parts = [
        f'<svg class="chart chart-heatmap" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" style="max-width: {width}px">',
        format_html(
            '<text class="axis" x="{}" y="13" text-anchor="middle">Consensus →</text>',
            left + cols * cell / 2,
        ),
    ]
    for j, name in enumerate(columns):
        parts.append(
            format_html(
                '<text class="axis col-label" x="{}" y="{}" text-anchor="middle">{}</text>',
                _fmt(left + cell * (j + 0.5)),
                top - 8,
                _short(name, 9),
            )
        )
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        y = top + i * cell
        parts.append(
            format_html(
                '<text class="axis row-label" x="{}" y="{}" text-anchor="end">{}</text>',
                left - 8,
                _fmt(y + cell / 2 + 4),
                _short(labels[i], 18),
            )
        )
        for j, count in enumerate(row):
            share = count / total
            kind = "same" if labels[i] == columns[j] else "other"
            strong = " strong" if share >= 0.5 else ""
            parts.append(
                format_html(
                    '<g class="cell cell-{}{}"><rect x="{}" y="{}" width="{}" height="{}" rx="4" '
                    'style="--share: {}"/><text x="{}" y="{}" text-anchor="middle">{}</text>'
                    "<title>Rater chose {}, consensus {}: {} annotations ({} of the row)</title>"
                    "</g>",
                    kind,
                    strong,
                    left + j * cell + 2,
                    y + 2,
                    cell - 4,
                    cell - 4,
                    f"{share:.3f}",
                    _fmt(left + cell * (j + 0.5)),
                    _fmt(y + cell / 2 + 5),
                    _count(count),
                    labels[i],
                    columns[j],
                    f"{count:,}",
                    _pct(share),
                )
            )
    parts.append(
        format_html(
            '<text class="axis" x="{}" y="{}">↑ rater\'s label · shade: share of the row</text>',
            4,
            height - 8,
        )
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _short(text: str, limit: int = 10) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n:,}"


@register.simple_tag
def sparkline(trend: Sequence[Sequence[Any]], label: str = "Trend") -> SafeString:
    """A rater's weekly agreement ([week, share, n] per week) as a small line on 0-100%."""
    points = [(str(week), share, n) for week, share, n in trend if share is not None]
    if not points:
        return mark_safe(f'<span class="muted">{NO_FIGURE}</span>')
    width, height, pad = 112, 28, 3
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    coords = [
        (pad + step * i if len(points) > 1 else width / 2, pad + (height - 2 * pad) * (1 - share))
        for i, (_, share, _) in enumerate(points)
    ]
    summary = "; ".join(f"{week}: {_pct(share)} of {n}" for week, share, n in points)
    parts = [
        format_html(
            '<svg class="sparkline" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
            'aria-label="{}"><title>{}</title>',
            width,
            height,
            width,
            height,
            f"{label}: {summary}",
            summary,
        ),
        f'<line class="grid" x1="0" x2="{width}" y1="{_fmt(height / 2)}" y2="{_fmt(height / 2)}"/>',
    ]
    if len(coords) > 1:
        parts.append(
            '<polyline class="line" points="'
            + " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in coords)
            + '"/>'
        )
    x, y = coords[-1]
    parts.append(f'<circle class="dot" cx="{_fmt(x)}" cy="{_fmt(y)}" r="2.5"/></svg>')
    return mark_safe("".join(parts))


@register.simple_tag
def interval_bar(metric: dict[str, Any] | None, marks: str = "") -> SafeString:
    """A statistic on a 0-1 scale: its 95% interval as a band and its value as a tick; `marks`
    ("0.667,0.8") draws reference lines. Values below 0 sit at the left edge."""
    if not metric or metric.get("value") is None:
        return mark_safe("")
    width, height = 220, 18

    def x(v: float) -> float:
        return 2 + (width - 4) * min(max(v, 0.0), 1.0)

    value = float(metric["value"])
    parts = [
        f'<svg class="interval-bar" viewBox="0 0 {width} {height}" aria-hidden="true" '
        'focusable="false">',
        f'<rect class="track" x="2" y="7" width="{width - 4}" height="4" rx="2"/>',
    ]
    for mark in filter(None, marks.split(",")):
        parts.append(
            f'<line class="mark" x1="{_fmt(x(float(mark)))}" x2="{_fmt(x(float(mark)))}" y1="3" '
            f'y2="15"/>'
        )
    interval = metric.get("interval") or {}
    if interval.get("low") is not None and interval.get("high") is not None:
        low, high = x(float(interval["low"])), x(float(interval["high"]))
        parts.append(
            f'<rect class="band" x="{_fmt(low)}" y="5" width="{_fmt(max(high - low, 2))}" '
            'height="8" rx="3"/>'
        )
    parts.append(f'<rect class="value" x="{_fmt(x(value) - 1.5)}" y="2" width="3" height="14"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.5718 -> "57.2%"; a dash for no figure."""
    return NO_FIGURE if value is None else f"{100 * float(value):.{digits}f}%"


@register.filter
def figure(value: float | None, digits: int = 3) -> str:
    """A coefficient to three decimals ("0.443", a true minus sign for "-0.091"); a dash for no
    figure."""
    if value is None:
        return NO_FIGURE
    return f"{float(value):.{digits}f}".replace("-", MINUS)
