"""A project's agreement figures and its raters' scorecards, from the arrays of a full recompute.

Every figure says how many items and raters it rests on. The statistics themselves are pure
functions in `agreement.metrics`; this module gathers them for the dashboard, the API and the
scorecards, and saves them (`ProjectAgreement.summary`, `RaterQuality`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count

from agreement.decisions import Decisions, vote_counts
from agreement.models import (
    AgreementRecompute,
    Conflict,
    ProjectAgreement,
    RaterQuality,
)
from agreement.services.arrays import ProjectAnnotations
from agreement.services.models import LabelModel
from projects.models import Item, LabelKind, Project


@dataclass
class Figures:
    summary: dict[str, Any]
    raters: list[RaterQuality] = field(default_factory=list)


def _number(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


MONDAY_EPOCH_OFFSET = 3 * 86400  # 1970-01-01 was a Thursday: weeks start on Mondays


def _week_number(seconds: np.ndarray) -> np.ndarray:
    """Week numbers (Monday to Sunday, UTC) of epoch seconds, as integers."""
    return ((seconds + MONDAY_EPOCH_OFFSET) // (7 * 86400)).astype(np.int64)


def _week_label(week: int) -> str:
    """The ISO week ("2026-W49") of a week number from `_week_number`."""
    monday = week * 7 * 86400 - MONDAY_EPOCH_OFFSET
    year, number, _ = datetime.fromtimestamp(monday, tz=UTC).isocalendar()
    return f"{year}-W{number:02d}"


def figures_compute(
    project: Project, annotations: ProjectAnnotations, decisions: Decisions, model: LabelModel
) -> Figures:
    """The dashboard's figures and every rater's scorecard."""
    n_items = len(annotations.item_ids)
    per_item = np.bincount(annotations.item, minlength=n_items)
    rated = per_item >= 2
    observed = decisions.observed[rated]
    summary: dict[str, Any] = {
        "rule": project.agreement_rule,
        "threshold": project.agreement_threshold,
        "method": model.method,
        "label_kind": annotations.kind,
        "values": [str(v) for v in annotations.values],
        "items": int(n_items),
        "items_with_two_or_more": int(rated.sum()),
        "annotations": len(annotations.ids),
        "raters": len(annotations.rater_ids),
        "observed_agreement": {
            "value": _number(observed.mean()) if len(observed) else None,
            "items": int(rated.sum()),
            "raters": len(np.unique(annotations.rater[rated[annotations.item]])),
        },
        "status_counts": dict(
            Item.objects.filter(project=project)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        ),
        "conflicts": dict(
            Conflict.objects.filter(project=project)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        ),
    }
    if annotations.kind != LabelKind.MULTI:
        summary |= _per_label_and_confusion(annotations, decisions)
    summary["weekly"] = _weekly(annotations, decisions)
    return Figures(summary=summary, raters=_scorecards(project, annotations, decisions, model))


def _per_label_and_confusion(
    annotations: ProjectAnnotations, decisions: Decisions
) -> dict[str, Any]:
    """Per label: how often raters chose it, how many items it is the consensus of, and the
    specific agreement 2 n_agree(c) / (pairs' ratings of c); and the confusion matrix of
    raters' labels against the consensus of their items."""
    q, n_items = annotations.n_categories, len(annotations.item_ids)
    counts = vote_counts(annotations.item, annotations.code, n_items, q)
    n = counts.sum(axis=1)
    pairs_agreeing = (counts * (counts - 1)).sum(axis=0)  # ordered pairs agreeing on c
    pair_ratings = (counts * (n[:, None] - 1)).sum(axis=0)  # ordered pairs with a rating of c
    consensus = decisions.consensus
    per_label = []
    for code, value in enumerate(annotations.values):
        per_label.append({
            "value": str(value),
            "annotations": int(counts[:, code].sum()),
            "consensus_items": int((consensus == code).sum()),
            "specific_agreement": _number(pairs_agreeing[code] / pair_ratings[code])
            if pair_ratings[code] else None,
        })  # fmt: skip
    decided = consensus[annotations.item]
    keep = decided >= 0
    matrix = np.zeros((q, q), dtype=np.int64)
    np.add.at(matrix, (annotations.code[keep], decided[keep]), 1)
    return {
        "per_label": per_label,
        "confusion": {
            "rows": "rater's label", "columns": "consensus", "matrix": matrix.tolist(),
            "annotations": int(keep.sum()),
        },
    }  # fmt: skip


def _weekly(annotations: ProjectAnnotations, decisions: Decisions) -> list[dict[str, Any]]:
    """Observed agreement of the items whose last label came in each week."""
    n_items = len(annotations.item_ids)
    if not n_items:
        return []
    last = np.full(n_items, -np.inf)
    np.maximum.at(last, annotations.item, annotations.created)
    rated = np.isfinite(decisions.observed)
    if not rated.any():
        return []
    weeks = _week_number(last[rated])
    first = int(weeks.min())
    n = np.bincount(weeks - first)
    total = np.bincount(weeks - first, weights=decisions.observed[rated])
    return [
        {"week": _week_label(first + int(w)), "observed_agreement": _number(total[w] / n[w]),
         "items": int(n[w])}
        for w in np.flatnonzero(n)
    ]  # fmt: skip


def _loo_agreement(annotations: ProjectAnnotations) -> tuple[np.ndarray, np.ndarray]:
    """Per annotation: whether it agrees with the majority of the OTHER raters of its item
    (leave-one-out), and whether that majority exists (at least one other rater, no tie)."""
    q, n_items = max(annotations.n_categories, 1), len(annotations.item_ids)
    if annotations.kind == LabelKind.MULTI:
        # Multi-label: whole label sets as categories (agreeing means choosing exactly the set
        # most of the other raters chose).
        codes = np.unique(annotations.code, return_inverse=True)[1]
        q = int(codes.max(initial=0)) + 1
    else:
        codes = annotations.code
    counts = vote_counts(annotations.item, codes, n_items, q)
    others = counts[annotations.item].copy()
    others[np.arange(len(codes)), codes] -= 1
    top = others.max(axis=1)
    winners = (others == top[:, None]).sum(axis=1)
    exists = (top > 0) & (winners == 1)
    agrees = exists & (others.argmax(axis=1) == codes)
    return agrees, exists


def _scorecards(
    project: Project, annotations: ProjectAnnotations, decisions: Decisions, model: LabelModel
) -> list[RaterQuality]:
    """Every rater's figures, each a grouped sum over the annotations (no loop over them)."""
    n_raters = len(annotations.rater_ids)
    if not n_raters:
        return []
    rater = annotations.rater
    agrees, exists = _loo_agreement(annotations)
    zeros = np.zeros(n_raters, dtype=np.int64)
    gold_hits = model.gold_correct if model.gold_correct is not None else zeros
    gold_seen = model.gold_total if model.gold_total is not None else zeros
    ds = model.ds_accuracy
    conflict_ids = Conflict.objects.filter(project=project).values_list("item_id", flat=True)
    in_conflict = np.isin(annotations.item_ids, np.fromiter(conflict_ids, np.int64))
    count = np.bincount(rater, minlength=n_raters)
    judged = np.bincount(rater, weights=exists, minlength=n_raters)
    agreeing = np.bincount(rater, weights=agrees & exists, minlength=n_raters)
    conflicts = np.bincount(rater, weights=in_conflict[annotations.item], minlength=n_raters)
    timed = annotations.time_spent_ms > 0
    timed_n = np.bincount(rater[timed], minlength=n_raters)
    timed_ms = np.bincount(
        rater[timed], weights=annotations.time_spent_ms[timed], minlength=n_raters
    )
    medians = _grouped_medians(rater[timed], annotations.time_spent_ms[timed], n_raters)
    trends = _trends(annotations, agrees, exists)
    now = datetime.now(tz=UTC)
    return [
        RaterQuality(
            project=project, rater_id=int(annotations.rater_ids[r]), annotations=int(count[r]),
            loo_agreement=_number(agreeing[r] / judged[r]) if judged[r] else None,
            loo_items=int(judged[r]), gold_items=int(gold_seen[r]), gold_correct=int(gold_hits[r]),
            ds_accuracy=_number(ds[r]) if ds is not None else None,
            conflicts=int(conflicts[r]),
            labels_per_hour=_number(timed_n[r] / (timed_ms[r] / 3.6e6)) if timed_n[r] else None,
            median_seconds=_number(medians[r] / 1000) if timed_n[r] else None,
            trend=trends[r], computed_at=now,
        )
        for r in range(n_raters)
    ]  # fmt: skip


def _grouped_medians(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """The median of `values` in each group (nan for an empty group), from one sort."""
    order = np.lexsort((values, group))
    group, values = group[order], values[order].astype(np.float64)
    bounds = np.searchsorted(group, np.arange(n_groups + 1))
    medians = np.full(n_groups, np.nan)
    for g in range(n_groups):
        lo, hi = bounds[g], bounds[g + 1]
        if hi > lo:
            middle = (lo + hi - 1) / 2
            medians[g] = (values[int(np.floor(middle))] + values[int(np.ceil(middle))]) / 2
    return medians


def _trends(
    annotations: ProjectAnnotations, agrees: np.ndarray, exists: np.ndarray
) -> list[list[list[Any]]]:
    """Per rater, [week, share agreeing with the others, annotations judged] for each week."""
    n_raters = len(annotations.rater_ids)
    trends: list[list[list[Any]]] = [[] for _ in range(n_raters)]
    if not exists.any():
        return trends
    weeks = _week_number(annotations.created[exists])
    first, span = int(weeks.min()), int(weeks.max() - weeks.min()) + 1
    cell = annotations.rater[exists] * span + (weeks - first)
    n = np.bincount(cell, minlength=n_raters * span).reshape(n_raters, span)
    hit = np.bincount(cell, weights=agrees[exists], minlength=n_raters * span)
    hit = hit.reshape(n_raters, span)
    for r, w in zip(*np.nonzero(n), strict=True):
        trends[r].append([_week_label(first + int(w)), _number(hit[r, w] / n[r, w]), int(n[r, w])])
    return trends


@transaction.atomic
def figures_save(
    *, project: Project, job: AgreementRecompute | None, figures: Figures, model: LabelModel,
    now: datetime,
) -> None:  # fmt: skip
    """Keep the project's figures, its fitted label model and the raters' scorecards."""
    figures.summary["computed_at"] = now.isoformat()
    ProjectAgreement.objects.update_or_create(
        project=project,
        defaults={"summary": figures.summary, "model": model.model, "recompute": job,
                  "computed_at": now},
    )  # fmt: skip
    RaterQuality.objects.filter(project=project).delete()
    RaterQuality.objects.bulk_create(figures.raters)
