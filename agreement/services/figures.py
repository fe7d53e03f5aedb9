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
from agreement.services.evaluation import api_value
from agreement.services.models import LabelModel
from projects.models import Item, LabelKind, Project


@dataclass
class Figures:
    summary: dict[str, Any]
    raters: list[RaterQuality] = field(default_factory=list)


def _number(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _week(seconds: np.ndarray) -> np.ndarray:
    """ISO week labels ("2026-W49") of epoch seconds, computed once per distinct day."""
    days = (seconds // 86400).astype(np.int64)
    unique, inverse = np.unique(days, return_inverse=True)
    labels = []
    for day in unique:
        year, week, _ = datetime.fromtimestamp(int(day) * 86400, tz=UTC).isocalendar()
        labels.append(f"{year}-W{week:02d}")
    return (
        np.asarray(labels, dtype=object)[inverse] if len(unique) else np.asarray([], dtype=object)
    )


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
    return Figures(summary=summary, raters=_scorecards(project, annotations, decisions))


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
    """Observed agreement of the items whose last label came in each ISO week."""
    n_items = len(annotations.item_ids)
    if not n_items:
        return []
    last = np.full(n_items, -np.inf)
    np.maximum.at(last, annotations.item, annotations.created)
    rated = np.isfinite(decisions.observed)
    weeks = _week(last[rated])
    observed = decisions.observed[rated]
    rows = []
    for week in sorted(set(weeks.tolist())):
        chosen = weeks == week
        rows.append({
            "week": week, "observed_agreement": _number(observed[chosen].mean()),
            "items": int(chosen.sum()),
        })  # fmt: skip
    return rows


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
    project: Project, annotations: ProjectAnnotations, decisions: Decisions
) -> list[RaterQuality]:
    n_raters = len(annotations.rater_ids)
    if not n_raters:
        return []
    rater = annotations.rater
    agrees, exists = _loo_agreement(annotations)
    gold_items = dict(
        Item.objects.filter(project=project, is_gold=True).values_list("pk", "gold_value")
    )
    gold_hits = np.zeros(n_raters, dtype=np.int64)
    gold_seen = np.zeros(n_raters, dtype=np.int64)
    if gold_items:
        _gold_tally(annotations, gold_items, gold_hits, gold_seen)
    conflict_items = np.isin(
        annotations.item_ids,
        np.fromiter(
            Conflict.objects.filter(project=project).values_list("item_id", flat=True), np.int64
        ),
    )
    in_conflict = conflict_items[annotations.item]
    weeks = _week(annotations.created)
    now = datetime.now(tz=UTC)
    cards = []
    for r in range(n_raters):
        mine = rater == r
        spent = annotations.time_spent_ms[mine]
        timed = spent[spent > 0]
        judged = mine & exists
        trend = []
        for week in sorted(set(weeks[judged].tolist())):
            chosen = judged & (weeks == week)
            trend.append([week, _number(agrees[chosen].mean()), int(chosen.sum())])
        cards.append(
            RaterQuality(
                project=project, rater_id=int(annotations.rater_ids[r]),
                annotations=int(mine.sum()),
                loo_agreement=_number(agrees[judged].mean()) if judged.any() else None,
                loo_items=int(judged.sum()), gold_items=int(gold_seen[r]),
                gold_correct=int(gold_hits[r]), conflicts=int(in_conflict[mine].sum()),
                labels_per_hour=_number(len(timed) / (timed.sum() / 3.6e6)) if len(timed) else None,
                median_seconds=_number(np.median(timed) / 1000) if len(timed) else None,
                trend=trend, computed_at=now,
            )
        )  # fmt: skip
    return cards


def _gold_tally(
    annotations: ProjectAnnotations, gold: dict[int, Any], hits: np.ndarray, seen: np.ndarray
) -> None:
    gold_index = np.searchsorted(annotations.item_ids, list(gold))
    for index, answer in zip(gold_index.tolist(), gold.values(), strict=True):
        if index >= len(annotations.item_ids) or annotations.item_ids[index] not in gold:
            continue
        for row in annotations.rows_of(index):
            r = annotations.rater[row]
            seen[r] += 1
            given = api_value(annotations.value_of(int(annotations.code[row])))
            hits[r] += int(given == answer)


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
