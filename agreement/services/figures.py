"""A project's agreement figures and its raters' scorecards, from the arrays of a full recompute.

Every figure says what it rests on (items, raters, pairable values) and, where it can be
undefined, why it is. The statistics themselves are the pure functions of `agreement.metrics`;
this module feeds them the recompute's arrays, gathers what they return for the dashboard, the
API and the scorecards, and saves it (`ProjectAgreement.summary`, `RaterQuality`).

What the summary holds, by the project's kind of label:
- single-label and ratings: observed agreement; Krippendorff's alpha (nominal; for ratings also
  ordinal, interval and ratio); Fleiss' kappa with a kappa per category; Gwet's AC1 (and AC2
  with linear and quadratic weights for ratings); Cohen's kappa for every pair of raters who
  share items (plain, and linear and quadratic weighted for ratings) with its mean, minimum and
  maximum; each rater's Cohen's kappa against the consensus; per label: how often it was chosen,
  how often it is the consensus, its specific agreement and its kappa; the confusion matrix of
  raters' labels against the consensus.
- multi-label: observed agreement (mean MASI agreement of an item's pairs of annotations);
  alpha over label sets with the MASI distance; per label: a binary alpha with its interval,
  and how raters' choices of it meet the consensus; the co-occurrence of raters' labels with
  the consensus' labels.
- always: agreement per week, and the conflicts by status.

The project's alpha (nominal; interval for ratings; MASI for multi-label) and Fleiss' kappa carry
a 95% bootstrap interval over items (1,000 resamples, a fixed seed: the same data gives the same
interval).

Speed: alpha, Fleiss' kappa, Gwet's coefficients and observed agreement depend on the items'
value counts only, which are tallied once (`Tally`) for all of them; the pairs of raters'
contingency tables come from one pass over the pairs of ratings on the same item. The
multi-label statistics, which do not depend on who gave which annotation either, run on label
sets laid out by rating slot (the first, second, ... annotation of each item) rather than by
rater, which is the same data in a fraction of the memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count

from agreement.aggregation.majority import vote_counts
from agreement.decisions import Decisions
from agreement.metrics.agreement import observed_agreement_of_tally, specific_agreement
from agreement.metrics.alpha import LEVELS, Level, alpha_of_tally
from agreement.metrics.bootstrap import Interval, counts_alpha_interval, counts_fleiss_interval
from agreement.metrics.data import Estimate, LabelSets, Tally
from agreement.metrics.gwet import gwet_ac_of_tally
from agreement.metrics.kappa import (
    KappaWeights,
    fleiss_kappa_of_tally,
    kappa_of_tables,
    pair_tables,
)
from agreement.metrics.multilabel import (
    label_alpha_intervals,
    label_alphas,
    masi_alpha,
    masi_alpha_interval,
)
from agreement.models import (
    AgreementRecompute,
    Conflict,
    ItemAgreement,
    ProjectAgreement,
    RaterQuality,
)
from agreement.services.arrays import ProjectAnnotations
from agreement.services.models import LabelModel
from core.jobs.models import JobStatus
from projects.models import LabelKind, Membership, Project

# The shape of `ProjectAgreement.summary`: pages and the API show figures of this shape only
# (older ones ask for a recompute).
SUMMARY_VERSION = 2
CONFIDENCE = 0.95
RESAMPLES = 1000
SEED = 0
# A pair of raters enters the pair table (and the kappa summary) from this many shared items.
MIN_PAIR_ITEMS = 2
# Cohen's kappa: the summary's name of each weighting, and the name of its column in the pair table.
KAPPA_WEIGHTS: dict[str, tuple[KappaWeights, str]] = {
    "unweighted": (None, "kappa"),
    "linear": ("linear", "kappa_linear"),
    "quadratic": ("quadratic", "kappa_quadratic"),
}


@dataclass
class Figures:
    summary: dict[str, Any]
    raters: list[RaterQuality] = field(default_factory=list)


def _number(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


def _interval(interval: Interval) -> dict[str, Any]:
    return {
        "low": _number(interval.low), "high": _number(interval.high),
        "confidence": interval.confidence, "resamples": interval.n_resamples,
        "undefined_resamples": interval.n_undefined,
    }  # fmt: skip


def _metric(estimate: Estimate, interval: Interval | None = None, **extra: Any) -> dict[str, Any]:
    """A statistic as the summary keeps it: value (null when undefined, with the reason), the
    items, raters and pairable values it rests on, and its interval when it has one."""
    return {
        "value": _number(estimate.value), "items": int(estimate.n_items),
        "raters": int(estimate.n_raters), "pairable": int(estimate.n_pairable),
        "reason": estimate.reason, "interval": _interval(interval) if interval else None,
        **extra,
    }  # fmt: skip


MONDAY_EPOCH_OFFSET = 3 * 86400  # 1970-01-01 was a Thursday: weeks start on Mondays


def _week_number(seconds: np.ndarray) -> np.ndarray:
    """Week numbers (Monday to Sunday, UTC) of epoch seconds, as integers."""
    return ((seconds + MONDAY_EPOCH_OFFSET) // (7 * 86400)).astype(np.int64)


def _week_label(week: int) -> str:
    """The ISO week ("2026-W49") of a week number from `_week_number`."""
    monday = week * 7 * 86400 - MONDAY_EPOCH_OFFSET
    year, number, _ = datetime.fromtimestamp(monday, tz=UTC).isocalendar()
    return f"{year}-W{number:02d}"


@dataclass(frozen=True)
class ByItem:
    """The annotations ordered by item (stable: by id within an item), from one sort."""

    order: np.ndarray  # annotation rows, item by item
    starts: np.ndarray  # first position in `order` of each item
    sizes: np.ndarray  # annotations per item
    slot: np.ndarray  # per position in `order`: 0 for an item's first annotation, 1, ...


def _by_item(annotations: ProjectAnnotations) -> ByItem:
    order = np.argsort(annotations.item, kind="stable")
    sizes = np.bincount(annotations.item, minlength=len(annotations.item_ids))
    starts = np.cumsum(sizes) - sizes
    slot = np.arange(len(order)) - np.repeat(starts, sizes)
    return ByItem(order=order, starts=starts, sizes=sizes, slot=slot)


def figures_compute(
    project: Project, annotations: ProjectAnnotations, decisions: Decisions, model: LabelModel
) -> Figures:
    """The dashboard's figures and every rater's scorecard (the module says which)."""
    n_items = len(annotations.item_ids)
    by_item = _by_item(annotations)
    rated = by_item.sizes >= 2
    conflicts = list(Conflict.objects.filter(project=project).values_list("item_id", "status"))
    summary: dict[str, Any] = {
        "version": SUMMARY_VERSION,
        "rule": project.agreement_rule,
        "threshold": project.agreement_threshold,
        "method": model.method,
        "label_kind": annotations.kind,
        "values": [str(v) for v in annotations.values],
        "items": int(n_items),
        "items_with_two_or_more": int(rated.sum()),
        "annotations": len(annotations.ids),
        "raters": len(annotations.rater_ids),
        "conflicts": dict(Counter(status for _, status in conflicts)),
    }
    if annotations.kind == LabelKind.MULTI:
        summary |= _multi_label_figures(annotations, decisions, by_item)
    else:
        summary |= _label_figures(annotations, decisions)
    summary["weekly"] = _weekly(annotations, decisions, by_item)
    in_conflict = np.isin(annotations.item_ids, np.fromiter((i for i, _ in conflicts), np.int64))
    raters = _scorecards(project, annotations, model, by_item, in_conflict)
    return Figures(summary=summary, raters=raters)


# --- single-label and ratings ------------------------------------------------------------------


def _raters_on(annotations: ProjectAnnotations, items: np.ndarray) -> int:
    """How many raters rated at least one of the items marked in `items` (a mask over items)."""
    n_raters = len(annotations.rater_ids)
    on = np.bincount(annotations.rater[items[annotations.item]], minlength=n_raters)
    return int(np.count_nonzero(on))


def _label_figures(annotations: ProjectAnnotations, decisions: Decisions) -> dict[str, Any]:
    """Everything a single-label or rating project shows."""
    q, n_items = annotations.n_categories, len(annotations.item_ids)
    ratings = annotations.kind == LabelKind.RATING
    # The declared values: codes for labels, the scale itself for ratings (the ratio level and
    # Gwet's weights read the numbers).
    domain = np.asarray(annotations.values if ratings else range(q), dtype=np.float64)
    counts = vote_counts(annotations.item, annotations.code, n_items=n_items, q=q)
    pairable = counts.sum(axis=1) >= 2
    tallied = Tally(counts=counts, pairable=pairable, n_raters=_raters_on(annotations, pairable))

    observed = observed_agreement_of_tally(tallied)
    levels: tuple[Level, ...] = LEVELS if ratings else ("nominal",)
    headline: Level = "interval" if ratings else "nominal"
    alphas = {}
    for level in levels:
        interval = (
            counts_alpha_interval(
                counts, domain=domain, level=level, n_resamples=RESAMPLES,
                confidence=CONFIDENCE, seed=SEED,
            )
            if level == headline else None
        )  # fmt: skip
        estimate = alpha_of_tally(tallied, domain=domain, level=level).alpha
        alphas[level] = _metric(estimate, interval, level=level)
    fleiss = fleiss_kappa_of_tally(tallied, domain=domain)
    fleiss_interval = counts_fleiss_interval(
        counts, n_resamples=RESAMPLES, confidence=CONFIDENCE, seed=SEED
    )
    gwet = {"ac1": _metric(gwet_ac_of_tally(tallied, domain=domain).coefficient)}
    if ratings:
        for weights in ("linear", "quadratic"):
            coefficient = gwet_ac_of_tally(tallied, domain=domain, weights=weights).coefficient
            gwet[f"ac2_{weights}"] = _metric(coefficient, weights=weights)
    cohen, pairs, rater_kappa = _cohen(annotations, decisions, ratings)

    consensus = decisions.consensus
    specific = observed.per_category
    per_label = [
        {
            "value": str(value), "annotations": int(counts[:, code].sum()),
            "share": _number(fleiss.proportions[code]),
            "consensus_items": int((consensus == code).sum()),
            "specific_agreement": _number(specific[code]),
            "kappa": _number(fleiss.per_category[code]),
        }
        for code, value in enumerate(annotations.values)
    ]  # fmt: skip
    decided = consensus[annotations.item]
    keep = decided >= 0
    matrix = np.zeros((q, q), dtype=np.int64)
    np.add.at(matrix, (annotations.code[keep], decided[keep]), 1)
    return {
        "observed_agreement": _metric(observed.overall),
        "alpha": alphas[headline],
        "alpha_levels": alphas,
        "kappa": _metric(fleiss.kappa, fleiss_interval, statistic="fleiss"),
        "gwet": gwet,
        "cohen_kappa": cohen,
        "pairs": pairs,
        "rater_kappa": rater_kappa,
        "per_label": per_label,
        "confusion": {
            "rows": "rater's label", "columns": "consensus", "matrix": matrix.tolist(),
            "annotations": int(keep.sum()),
        },
    }  # fmt: skip


def _cohen(
    annotations: ProjectAnnotations, decisions: Decisions, ratings: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Cohen's kappa of every pair of raters sharing items, summarised; the pair table; and
    each rater's (unweighted) kappa against the consensus of the items they rated (their own
    label included in it), by rater id. All from one set of contingency tables: the consensus
    enters as one more rater (the last index), whose pairs are the raters' own."""
    q, n_raters = annotations.n_categories, len(annotations.rater_ids)
    decided = np.flatnonzero(decisions.consensus >= 0)
    items = np.concatenate([annotations.item, decided])
    raters = np.concatenate([annotations.rater, np.full(len(decided), n_raters)])
    codes = np.concatenate([annotations.code, decisions.consensus[decided]])
    order = np.argsort(items * (n_raters + 1) + raters, kind="stable")
    tables = pair_tables(
        items[order], raters[order], codes[order].astype(np.float64), n_raters=n_raters + 1,
        domain=np.arange(q, dtype=np.float64),
    )  # fmt: skip
    shared = tables.n_items
    of_consensus = tables.rater_b == n_raters
    between = ~of_consensus & (shared >= MIN_PAIR_ITEMS)
    weightings = list(KAPPA_WEIGHTS) if ratings else ["unweighted"]
    counts = tables.tables.astype(np.float64)
    kappas = {w: kappa_of_tables(counts, KAPPA_WEIGHTS[w][0]) for w in weightings}
    agreeing = np.trace(counts, axis1=1, axis2=2) / np.maximum(shared, 1)

    summary: dict[str, Any] = {}
    in_pairs = np.union1d(tables.rater_a[between], tables.rater_b[between])
    rated_items = int(np.count_nonzero(np.bincount(annotations.item) >= 2))
    for weights, kappa in kappas.items():
        values = kappa[between]
        defined = values[np.isfinite(values)]
        summary[weights] = {
            "mean": _number(defined.mean()) if len(defined) else None,
            "median": _number(np.median(defined)) if len(defined) else None,
            "min": _number(defined.min()) if len(defined) else None,
            "max": _number(defined.max()) if len(defined) else None,
            "pairs": len(defined), "undefined_pairs": len(values) - len(defined),
            "raters": len(in_pairs), "items": rated_items,
            "rating_pairs": int(shared[between].sum()), "min_items": MIN_PAIR_ITEMS,
        }  # fmt: skip
    ids = annotations.rater_ids
    pairs = [
        {
            "a": int(ids[tables.rater_a[p]]), "b": int(ids[tables.rater_b[p]]),
            "items": int(shared[p]), "agreement": _number(agreeing[p]),
            **{KAPPA_WEIGHTS[w][1]: _number(k[p]) for w, k in kappas.items()},
        }
        for p in np.flatnonzero(between)
    ]  # fmt: skip
    plain = kappas["unweighted"]
    rater_kappa = {
        str(ids[tables.rater_a[p]]): {"kappa": _number(plain[p]), "items": int(shared[p])}
        for p in np.flatnonzero(of_consensus & (shared >= MIN_PAIR_ITEMS))
    }
    return summary, pairs, rater_kappa


# --- multi-label -------------------------------------------------------------------------------


def _multi_label_figures(
    annotations: ProjectAnnotations, decisions: Decisions, by_item: ByItem
) -> dict[str, Any]:
    n_items, n_labels = len(annotations.item_ids), annotations.n_categories
    rated = by_item.sizes >= 2
    observed = decisions.observed[rated]
    n_raters = _raters_on(annotations, rated)
    pairable = int(by_item.sizes[rated].sum())
    if len(observed):
        mean = Estimate(float(observed.mean()), int(rated.sum()), n_raters, pairable)
    else:
        mean = Estimate(np.nan, 0, n_raters, 0, "no item has two or more annotations")
    # Label sets by rating slot, not by rater: none of these statistics asks who chose what.
    width = int(by_item.sizes.max(initial=0))
    present = np.zeros((width, n_items), dtype=bool)
    items_sorted = annotations.item[by_item.order]
    present[by_item.slot, items_sorted] = True
    bits = (annotations.code[:, None] >> np.arange(n_labels)) & 1
    chosen = np.zeros((width, n_items, n_labels), dtype=bool)
    chosen[by_item.slot, items_sorted] = bits[by_item.order].astype(bool)
    sets = LabelSets(chosen=chosen, present=present)
    masi = masi_alpha(sets).alpha
    masi = Estimate(masi.value, masi.n_items, n_raters, masi.n_pairable, masi.reason)
    masi_interval = masi_alpha_interval(
        sets, n_resamples=RESAMPLES, confidence=CONFIDENCE, seed=SEED
    )
    alphas = label_alphas(sets)
    intervals = label_alpha_intervals(sets, n_resamples=RESAMPLES, confidence=CONFIDENCE, seed=SEED)

    consensus = decisions.consensus
    decided_items = consensus >= 0
    consensus_bits = (np.where(decided_items, consensus, 0)[:, None] >> np.arange(n_labels)) & 1
    keep = decided_items[annotations.item]
    rater_bits, with_bits = bits[keep], consensus_bits[annotations.item[keep]]
    chose = np.bincount(annotations.item, minlength=n_items)  # annotations per item
    label_counts = np.zeros((n_items, n_labels), dtype=np.int64)
    np.add.at(label_counts, annotations.item, bits)
    per_label = []
    for label, value in enumerate(annotations.values):
        binary = np.stack([chose - label_counts[:, label], label_counts[:, label]], axis=1)
        positive = specific_agreement(binary)[1]
        estimate = Estimate(
            alphas[label].value, alphas[label].n_items, n_raters, alphas[label].n_pairable,
            alphas[label].reason,
        )  # fmt: skip
        per_label.append({
            "value": str(value), "annotations": int(label_counts[:, label].sum()),
            "share": _number(label_counts[:, label].sum() / max(len(annotations.ids), 1)),
            "consensus_items": int(consensus_bits[decided_items, label].sum()),
            "specific_agreement": _number(positive),
            "alpha": _metric(estimate, intervals[label]),
            "with_consensus": int((rater_bits[:, label] & with_bits[:, label]).sum()),
            "beyond_consensus": int((rater_bits[:, label] & (1 - with_bits[:, label])).sum()),
            "missed": int(((1 - rater_bits[:, label]) & with_bits[:, label]).sum()),
        })  # fmt: skip
    cooccurrence = rater_bits.T @ with_bits
    return {
        "observed_agreement": _metric(mean, distance="masi"),
        "alpha": _metric(masi, masi_interval, level="masi"),
        "kappa": None,
        "per_label": per_label,
        "confusion": {
            "rows": "rater's label", "columns": "consensus label",
            "matrix": cooccurrence.astype(np.int64).tolist(), "annotations": int(keep.sum()),
        },
    }  # fmt: skip


# --- over time ---------------------------------------------------------------------------------


def _weekly(
    annotations: ProjectAnnotations, decisions: Decisions, by_item: ByItem
) -> list[dict[str, Any]]:
    """Observed agreement of the items whose last label came in each week."""
    n_items = len(annotations.item_ids)
    if not n_items:
        return []
    last = np.maximum.reduceat(annotations.created[by_item.order], by_item.starts)
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


# --- scorecards --------------------------------------------------------------------------------


def _loo_agreement(annotations: ProjectAnnotations) -> tuple[np.ndarray, np.ndarray]:
    """Per annotation: whether it agrees with the majority of the OTHER raters of its item
    (leave-one-out), and whether that majority exists (at least one other rater, no tie).
    Multi-label: whole label sets are the values (agreeing means choosing exactly the set most
    of the other raters chose). `agreement.metrics.raters.consensus_agreement` is the same
    statistic over a reliability matrix.

    Without a (annotations x values) array: from each item's top count s1, how many values
    reach it (n_top) and the next count s2. An annotation of value v, c_v of the item's votes:
    - v alone on top: the others' top is max(s1 - 1, s2), a majority of v if s1 - 1 > s2;
    - v one of two on top: the other one is the others' majority, which v is not;
    - otherwise: the others' majority exists when one value alone is on top, and is not v."""
    n_items = len(annotations.item_ids)
    if annotations.kind == LabelKind.MULTI:
        value = np.unique(annotations.code, return_inverse=True)[1].reshape(-1)
    else:
        value = annotations.code
    n_values = int(value.max(initial=0)) + 1
    keys = annotations.item * n_values + value
    distinct, which, votes = _distinct(keys)
    key_item = distinct // n_values
    starts = np.searchsorted(key_item, np.arange(n_items))
    s1 = np.maximum.reduceat(votes, starts)
    n_top = np.bincount(key_item, weights=votes == s1[key_item], minlength=n_items)
    below = np.where(votes < s1[key_item], votes, 0)
    s2 = np.maximum.reduceat(below, starts)
    own = votes[which]
    item = annotations.item
    on_top, alone = own == s1[item], n_top[item] == 1
    exists = np.where(
        on_top & alone, s1[item] - 1 > s2[item], np.where(on_top, n_top[item] == 2, alone)
    )
    agrees = on_top & alone & exists
    return agrees, exists


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct keys, the index of each key among them, and their counts."""
    if len(keys) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    space = int(keys.max()) + 1
    if space <= max(4 * len(keys), 1 << 20):
        counts = np.bincount(keys, minlength=space)
        present = np.flatnonzero(counts)
        position = np.zeros(space, dtype=np.int64)
        position[present] = np.arange(len(present))
        return present, position[keys], counts[present]
    distinct, which, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return distinct, which, counts


def _scorecards(
    project: Project, annotations: ProjectAnnotations, model: LabelModel, by_item: ByItem,
    in_conflict: np.ndarray,
) -> list[RaterQuality]:  # fmt: skip
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
    count = np.bincount(rater, minlength=n_raters)
    judged = np.bincount(rater, weights=exists, minlength=n_raters)
    agreeing = np.bincount(rater, weights=agrees, minlength=n_raters)
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
    """The median of `values` (non-negative integers) in each group (nan for an empty group),
    from one sort of a single integer key."""
    spread = int(values.max(initial=0)) + 1
    key = np.sort(group.astype(np.int64) * spread + values.astype(np.int64))
    sizes = np.bincount(group, minlength=n_groups)
    starts = np.cumsum(sizes) - sizes
    has = sizes > 0
    low = starts + (sizes - 1) // 2
    high = starts + sizes // 2
    medians = np.full(n_groups, np.nan)
    medians[has] = ((key[low[has]] % spread) + (key[high[has]] % spread)) / 2
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


# --- reads: what the dashboard, the scorecards and the API show --------------------------------


def figures_of(project: Project) -> ProjectAgreement | None:
    """The project's figures from its last full recompute, if it has had one since figures
    took their present shape (`SUMMARY_VERSION`)."""
    return ProjectAgreement.objects.filter(
        project=project, summary__version=SUMMARY_VERSION
    ).first()


def recompute_latest(project: Project) -> AgreementRecompute | None:
    """The project's live recompute (pending or running), else its latest one."""
    jobs = AgreementRecompute.objects.filter(project=project).select_related("requested_by")
    live = jobs.filter(status__in=(JobStatus.PENDING, JobStatus.RUNNING)).first()
    return live or jobs.first()


def items_changed_since(project: Project, moment: datetime) -> int:
    """Items evaluated after `moment` (a label given, changed or decided since the figures were
    computed): how far the live state has moved from them."""
    return ItemAgreement.objects.filter(project=project, evaluated_at__gt=moment).count()


def conflict_counts(project: Project) -> dict[str, int]:
    """The project's conflicts by status, now."""
    rows = (
        Conflict.objects.filter(project=project)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return dict(rows)


@dataclass(frozen=True)
class Scorecard:
    """A rater's figures from the last recompute, named as the lead knows them: an external
    rater (no account; named in an imported file) by the name the file gave."""

    quality: RaterQuality
    name: str
    is_external: bool
    is_member: bool
    kappa: float | None  # against the consensus of the items the rater labeled
    kappa_items: int

    @property
    def rater_id(self) -> int:
        return self.quality.rater_id

    @property
    def gold_accuracy(self) -> float | None:
        return self.quality.gold_accuracy


SCORECARD_SORTS: dict[str, Any] = {
    "rater": lambda card: card.name.lower(),
    "annotations": lambda card: card.quality.annotations,
    "agreement": lambda card: card.quality.loo_agreement,
    "kappa": lambda card: card.kappa,
    "ds_accuracy": lambda card: card.quality.ds_accuracy,
    "gold": lambda card: card.gold_accuracy,
    "speed": lambda card: card.quality.labels_per_hour,
    "seconds": lambda card: card.quality.median_seconds,
    "conflicts": lambda card: card.quality.conflicts,
}


def scorecards_of(
    project: Project, *, rater_id: int | None = None, sort: str = "agreement",
    descending: bool = False,
) -> list[Scorecard]:  # fmt: skip
    """The raters' scorecards (only `rater_id`'s when given), sorted by a key of
    `SCORECARD_SORTS`; a rater without that figure comes last either way. Three queries."""
    qualities = RaterQuality.objects.filter(project=project).select_related("rater")
    if rater_id is not None:
        qualities = qualities.filter(rater_id=rater_id)
    cards = scorecards_from(project, list(qualities))
    key = SCORECARD_SORTS.get(sort, SCORECARD_SORTS["agreement"])
    present = sorted((c for c in cards if key(c) is not None), key=key, reverse=descending)
    return present + sorted((c for c in cards if key(c) is None), key=SCORECARD_SORTS["rater"])


def scorecards_from(project: Project, qualities: list[RaterQuality]) -> list[Scorecard]:
    """Scorecards of these rows (their raters selected with them), in their order: each rater
    named as the lead knows them, with their kappa against the consensus. Two queries."""
    rater_ids = [quality.rater_id for quality in qualities]
    members = {
        user_id: (is_external, external_name)
        for user_id, is_external, external_name in Membership.objects.filter(
            project=project, user_id__in=rater_ids
        )
        .order_by()
        .values_list("user_id", "is_external", "external_name")
    }
    kappas = (
        ProjectAgreement.objects.filter(project=project)
        .values_list("summary__rater_kappa", flat=True)
        .first()
    ) or {}
    cards = []
    for quality in qualities:
        is_external, external_name = members.get(quality.rater_id, (False, ""))
        kappa = kappas.get(str(quality.rater_id)) or {}
        cards.append(
            Scorecard(
                quality=quality, name=external_name if is_external else quality.rater.username,
                is_external=is_external, is_member=quality.rater_id in members,
                kappa=kappa.get("kappa"), kappa_items=kappa.get("items", 0),
            )
        )  # fmt: skip
    return cards


def rater_names(project: Project, rater_ids: list[int]) -> dict[int, str]:
    """How the lead knows each rater: username, or an external rater's name from the file."""
    User = get_user_model()
    names = dict(User.objects.filter(pk__in=rater_ids).values_list("pk", "username"))
    names.update(
        Membership.objects.filter(project=project, user_id__in=rater_ids, is_external=True)
        .order_by()
        .values_list("user_id", "external_name")
    )
    return names
