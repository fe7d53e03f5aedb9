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
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace

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
    # The label model of the last full recompute, for dawid_skene: {"values": [...],
    # "priors": [...], "confusion": {rater_id: [[p(given | true)]]}}; for weighted:
    # {"accuracy": {rater_id: gold accuracy}, "prior_accuracy": a}.
    model: Mapping[str, object] | None = None


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
    votes: Sequence[Vote], model: Mapping[str, object]
) -> dict[Hashable, float] | None:
    """The item's posterior over values under fixed confusion matrices and class priors: the
    E-step of Dawid & Skene (1979) for one item. A rater the fit did not see contributes
    nothing (their row is unknown, not assumed right). None when the fit knows no values."""
    values = list(model.get("values") or [])  # type: ignore[call-overload]
    if not values:
        return None
    priors = list(model.get("priors") or [1 / len(values)] * len(values))  # type: ignore[call-overload]
    confusion: Mapping[str, list[list[float]]] = model.get("confusion") or {}  # type: ignore[assignment]
    index = {value: i for i, value in enumerate(values)}
    logs = [math.log(max(p, 1e-300)) for p in priors]
    for vote in votes:
        rows = confusion.get(str(vote.rater_id))
        given = index.get(vote.value)
        if rows is None or given is None:
            continue
        for true in range(len(values)):
            logs[true] += math.log(max(rows[true][given], 1e-300))
    peak = max(logs)
    weights = [math.exp(value - peak) for value in logs]
    total = sum(weights)
    return {value: weight / total for value, weight in zip(values, weights, strict=True)}


def _weighted_shares(votes: Sequence[Vote], model: Mapping[str, object]) -> dict[Hashable, float]:
    """Shares of the votes weighted by log-odds of each rater's gold accuracy (Nitzan & Paroush
    1982), clipped to [0.55, 0.99] so that no rater's weight is zero, negative or unbounded."""
    accuracy: Mapping[str, float] = model.get("accuracy") or {}  # type: ignore[assignment]
    prior = float(model.get("prior_accuracy") or 0.7)  # type: ignore[arg-type]
    weights: defaultdict[Hashable, float] = defaultdict(float)
    for vote in votes:
        a = min(max(float(accuracy.get(str(vote.rater_id), prior)), 0.55), 0.99)
        weights[vote.value] += math.log(a / (1 - a))
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
        elif rule.name == AgreementRule.WEIGHTED and rule.model is not None:
            shares = _weighted_shares(votes, rule.model)
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
