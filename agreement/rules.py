"""One item's consensus under the project's rule, from its raters' values (pure Python, no
database): the live evaluation calls it for the item a submit completed; a full recompute gets
the same outcome from the vectorised label models in `agreement.aggregation`.

Values are hashable: a label's value (single-label), an integer (rating scale, treated as
ordered categories of the declared scale), or a frozenset of label values (multi-label, decided
label by label).

The rules (`projects.models.AgreementRule`, threshold t):
- unanimous: every rater gave the same value;
- majority: the top value has more than half of the raters;
- min_share: the top value has a share of at least t ("2 of 3 agree" is t = 0.66);
- dawid_skene: the top value's Dawid-Skene posterior, under the rater confusion matrices of the
  last fit, is at least t;
- weighted: the top value's share of the votes weighted by each rater's gold accuracy (log-odds
  weights) is at least t.
A tie (two values with the top count, or posterior) never passes and has no consensus: it is
never settled by picking the first label.

Multi-label: each label is in the consensus when more than half of the raters chose it; a label
exactly half of them chose is a tie. The confidence is the smallest share of the decided side
over the labels anybody chose; majority and min_share apply to that, unanimous to the sets.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agreement.aggregation.dawid_skene import dawid_skene_posterior
from agreement.aggregation.weighted import DEFAULT_PRIOR_ACCURACY, optimal_weights
from projects.models import AgreementRule, LabelKind

MULTI_SEPARATOR = " | "


@dataclass(frozen=True)
class Vote:
    annotation_id: int
    rater_id: int
    revision: int
    value: Hashable


@dataclass(frozen=True)
class Outcome:
    consensus: Hashable | None  # None: a tie, or no votes
    confidence: float | None
    observed: float | None  # share of agreeing rater pairs; None with fewer than two votes
    tie: bool
    passes: bool
    method: str
    label_pair: str = ""
    shares: dict[Hashable, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    threshold: float
    kind: str
    # The label model of the last full recompute (`agreement.services.models`), for
    # dawid_skene: {"values", "priors", "confusion": {rater_id: [[p(given | true)]]}, "mean"};
    # for weighted: {"values", "accuracy": {rater_id: smoothed gold accuracy}, "prior_accuracy"}.
    model: Mapping[str, Any] | None = None


def masi_agreement(a: frozenset[Hashable], b: frozenset[Hashable]) -> float:
    """1 - MASI distance (Passonneau 2006): Jaccard times 1 (equal), 2/3 (one a subset of the
    other), 1/3 (overlap) or 0 (disjoint). Two empty sets agree."""
    if a == b:
        return 1.0
    union = len(a | b)
    intersection = len(a & b)
    if intersection == 0:
        return 0.0
    monotonicity = 2 / 3 if (a <= b or b <= a) else 1 / 3
    return intersection / union * monotonicity


def observed_agreement(values: Sequence[Hashable], kind: str) -> float | None:
    """The share of agreeing pairs of raters on one item (Fleiss' P_i); for multi-label, the
    mean MASI agreement over pairs."""
    n = len(values)
    if n < 2:
        return None
    if kind == LabelKind.MULTI:
        sets: list[frozenset[Hashable]] = [v for v in values if isinstance(v, frozenset)]
        total = sum(masi_agreement(sets[i], sets[j]) for i in range(n) for j in range(i + 1, n))
        return total / (n * (n - 1) / 2)
    counts = Counter(values)
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


def _pair(counts: Mapping[Hashable, int]) -> str:
    """The two most chosen values, "a | b" in text order (equal counts: first in text order)."""
    top = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:2]
    if len(top) < 2:
        return ""
    return MULTI_SEPARATOR.join(sorted(str(value) for value, _ in top))


def _decide(
    shares: dict[Hashable, float], rule: Rule, method: str, votes: Mapping[Hashable, int]
) -> Outcome:
    """Consensus and pass/fail from the shares (vote shares or posteriors) of one item."""
    ordered = sorted(shares.values(), reverse=True)
    top = ordered[0]
    tie = len(ordered) > 1 and math.isclose(ordered[1], top, rel_tol=1e-9, abs_tol=1e-12)
    consensus = None if tie else max(shares, key=lambda value: shares[value])
    if tie:
        passes = False
    elif rule.name == AgreementRule.UNANIMOUS:
        passes = len(shares) == 1 or top >= 1.0 - 1e-12
    elif rule.name == AgreementRule.MAJORITY:
        passes = top > 0.5 + 1e-12
    else:
        passes = top >= rule.threshold - 1e-12
    return Outcome(
        consensus=consensus, confidence=top, observed=None, tie=tie, passes=passes,
        method=method, label_pair=_pair(votes), shares=shares,
    )  # fmt: skip


def _dawid_skene_shares(
    votes: Sequence[Vote], model: Mapping[str, Any]
) -> dict[Hashable, float] | None:
    """The item's posterior over values under the last fit's confusion matrices and class
    priors: the E-step of Dawid & Skene (1979) for one item (`dawid_skene_posterior`). A rater
    the fit did not see counts as the fit's average rater, as in the fit's own posterior. None
    when the fit knows no values."""
    values = list(model.get("values") or [])
    if not values:
        return None
    index = {value: i for i, value in enumerate(values)}
    known: Mapping[str, list[list[float]]] = model.get("confusion") or {}
    rows: list[list[list[float]]] = []
    raters: list[int] = []
    labels: list[int] = []
    for vote in votes:
        given = index.get(vote.value)
        if given is None:
            continue  # a label the fit never saw (added since): it carries no evidence yet
        matrix = known.get(str(vote.rater_id))
        raters.append(len(rows) if matrix is not None else -1)
        if matrix is not None:
            rows.append(matrix)
        labels.append(given)
    q = len(values)
    confusion = np.asarray(rows, dtype=np.float64).reshape(-1, q, q)
    posterior = dawid_skene_posterior(
        np.zeros(len(labels), dtype=np.intp), np.asarray(raters, dtype=np.intp),
        np.asarray(labels, dtype=np.intp),
        confusion if len(rows) else np.asarray([model["mean"]], dtype=np.float64),
        np.asarray(model["priors"], dtype=np.float64), n_items=1,
        unseen_confusion=np.asarray(model["mean"], dtype=np.float64),
    ).distribution[0]  # fmt: skip
    return {value: float(p) for value, p in zip(values, posterior, strict=True)}


def _weighted_shares(votes: Sequence[Vote], model: Mapping[str, Any]) -> dict[Hashable, float]:
    """The posterior of the vote weighted by each rater's smoothed gold accuracy (log-odds
    weights, `agreement.aggregation.weighted`): the softmax of each value's summed weights. A
    rater without a recorded accuracy gets the prior accuracy."""
    values = list(model.get("values") or [])
    accuracy: Mapping[str, float] = model.get("accuracy") or {}
    prior = float(model.get("prior_accuracy") or DEFAULT_PRIOR_ACCURACY)
    if not values:
        values = sorted({vote.value for vote in votes}, key=str)
    q = max(len(values), 2)
    scores = dict.fromkeys(values, 0.0)
    for vote in votes:
        p = accuracy.get(str(vote.rater_id), prior)
        scores[vote.value] = scores.get(vote.value, 0.0) + float(optimal_weights([p], q)[0])
    peak = max(scores.values())
    weights = {value: math.exp(score - peak) for value, score in scores.items()}
    total = sum(weights.values())
    return {value: weight / total for value, weight in weights.items()}


def item_outcome(votes: Sequence[Vote], rule: Rule) -> Outcome:
    """The consensus of one item's votes under the rule, and whether it passes."""
    n = len(votes)
    values = [vote.value for vote in votes]
    observed = observed_agreement(values, rule.kind)
    if n == 0:
        return Outcome(None, None, None, tie=False, passes=False, method="majority")
    if rule.kind == LabelKind.MULTI:
        outcome = _multi_outcome(votes, rule)
    else:
        counts = Counter(values)
        shares: dict[Hashable, float] | None = None
        method = "majority"
        if rule.name == AgreementRule.DAWID_SKENE and rule.model:
            shares = _dawid_skene_shares(votes, rule.model)
            method = "dawid_skene"
        elif rule.name == AgreementRule.WEIGHTED:
            shares = _weighted_shares(votes, rule.model or {})
            method = "weighted"
        if shares is None:
            shares = {value: count / n for value, count in counts.items()}
            method = "majority"
        outcome = _decide(shares, rule, method, counts)
        if rule.name == AgreementRule.UNANIMOUS:
            outcome = _with(outcome, passes=len(counts) == 1)
    return _with(outcome, observed=observed)


def _multi_outcome(votes: Sequence[Vote], rule: Rule) -> Outcome:
    n = len(votes)
    chosen: Counter[Hashable] = Counter()
    for vote in votes:
        assert isinstance(vote.value, frozenset)
        chosen.update(vote.value)
    ties = [label for label, count in chosen.items() if 2 * count == n]
    decided = frozenset(label for label, count in chosen.items() if 2 * count > n)
    confidence = min((max(count, n - count) / n for count in chosen.values()), default=1.0)
    shares = {label: count / n for label, count in chosen.items()}
    tie = bool(ties)
    if tie:
        passes = False
    elif rule.name == AgreementRule.UNANIMOUS:
        passes = len({vote.value for vote in votes}) == 1
    elif rule.name == AgreementRule.MIN_SHARE:
        passes = confidence >= rule.threshold - 1e-12
    else:  # majority, and the model rules until multi-label models are fitted
        passes = True
    return Outcome(
        consensus=None if tie else decided, confidence=confidence, observed=None, tie=tie,
        passes=passes, method="majority",
        label_pair=MULTI_SEPARATOR.join(sorted(str(label) for label in ties)), shares=shares,
    )  # fmt: skip


def _with(outcome: Outcome, **changes: object) -> Outcome:
    return replace(outcome, **changes)  # type: ignore[arg-type]
