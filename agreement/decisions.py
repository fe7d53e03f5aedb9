"""The project's rule applied to every item at once (numpy, no database): the vectorised twin
of `agreement.rules.item_outcome`, which the live evaluation uses for one item. Both must give
the same outcome for the same labels and label model; tests/agreement/test_recompute.py checks
it on random projects.

Input: per item, the label model's shares over the q categories (vote shares for majority,
posteriors for Dawid-Skene, weight shares for the gold-weighted vote), and the vote counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from projects.models import AgreementRule

TIE_TOLERANCE = 1e-9


@dataclass
class Decisions:
    """One entry per item."""

    consensus: np.ndarray  # category code, -1 for a tie (or no votes)
    confidence: np.ndarray  # the top share (nan without votes)
    tie: np.ndarray
    passes: np.ndarray
    observed: np.ndarray  # Fleiss' P_i, or mean pairwise MASI agreement; nan below 2 votes
    # Single-label and ratings: (n_items, 2) the two most chosen codes, -1 where fewer were
    # chosen. Multi-label: (n_items,) a bit mask of the tied labels.
    pair: np.ndarray


def observed_agreement(counts: np.ndarray) -> np.ndarray:
    """Fleiss' P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)) per item; nan where n_i < 2."""
    n = counts.sum(axis=1).astype(np.float64)
    agreeing = (counts * (counts - 1)).sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, agreeing / (n * (n - 1)), np.nan)


def top_pair(counts: np.ndarray, text_rank: np.ndarray) -> np.ndarray:
    """The two most chosen categories per item, equal counts taken in the text order of their
    values (`text_rank[code]`, as `agreement.rules` does), -1 where fewer than two were chosen.
    Only the conflict queue's label pair: a tie itself is decided elsewhere."""
    q = counts.shape[1]
    order = np.argsort(-counts * q + text_rank[None, :], axis=1, kind="stable")[:, :2]
    chosen = np.take_along_axis(counts, order, axis=1) > 0
    return np.where(chosen, order, -1)


def decide(
    shares: np.ndarray, counts: np.ndarray, *, rule: str, threshold: float,
    text_rank: np.ndarray,
) -> Decisions:  # fmt: skip
    """Consensus, confidence, tie and pass per item for a single-label (or rating) project."""
    n_votes = counts.sum(axis=1)
    ordered = -np.sort(-shares, axis=1)
    top = ordered[:, 0]
    second = ordered[:, 1] if shares.shape[1] > 1 else np.zeros(len(shares))
    tie = (n_votes > 0) & np.isclose(second, top, rtol=TIE_TOLERANCE, atol=1e-12)
    consensus = np.where(tie | (n_votes == 0), -1, np.argmax(shares, axis=1))
    if rule == AgreementRule.UNANIMOUS:
        passes = (counts > 0).sum(axis=1) == 1
    elif rule == AgreementRule.MAJORITY:
        passes = top > 0.5 + 1e-12
    else:
        passes = top >= threshold - 1e-12
    passes = passes & ~tie & (n_votes > 0)
    confidence = np.where(n_votes > 0, top, np.nan)
    return Decisions(
        consensus=consensus, confidence=confidence, tie=tie, passes=passes,
        observed=observed_agreement(counts), pair=top_pair(counts, text_rank),
    )  # fmt: skip


def decide_multi(
    item: np.ndarray, mask: np.ndarray, n_items: int, n_labels: int, *, rule: str,
    threshold: float,
) -> Decisions:  # fmt: skip
    """Per-label majority for a multi-label project (`agreement.rules` says how): consensus
    is a bit mask of the labels more than half of the raters chose; a label exactly half chose
    is a tie. `pair` is the bit mask of the tied labels."""
    n = np.bincount(item, minlength=n_items)
    bits = (mask[:, None] >> np.arange(n_labels)) & 1
    chosen = np.zeros((n_items, n_labels), dtype=np.int64)
    np.add.at(chosen, item, bits)
    twice = 2 * chosen
    tied = (twice == n[:, None]) & (chosen > 0)
    tie = tied.any(axis=1)
    decided = ((twice > n[:, None]).astype(np.int64) << np.arange(n_labels)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        side = np.maximum(chosen, n[:, None] - chosen) / n[:, None]
    side = np.where(chosen > 0, side, 1.0)
    confidence = np.where(n > 0, side.min(axis=1, initial=1.0), np.nan)
    distinct = _distinct_per_item(item, mask, n_items)
    if rule == AgreementRule.UNANIMOUS:
        passes = distinct == 1
    elif rule == AgreementRule.MIN_SHARE:
        passes = confidence >= threshold - 1e-12
    else:
        passes = np.ones(n_items, dtype=bool)
    passes = passes & ~tie & (n > 0)
    pair = (tied.astype(np.int64) << np.arange(n_labels)).sum(axis=1)
    return Decisions(
        consensus=np.where(tie | (n == 0), -1, decided), confidence=confidence, tie=tie,
        passes=passes, observed=masi_observed(item, mask, n_items), pair=pair,
    )  # fmt: skip


def _distinct_per_item(item: np.ndarray, mask: np.ndarray, n_items: int) -> np.ndarray:
    pairs = np.unique(np.stack([item, mask], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=n_items)


def masi_agreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - MASI distance (Passonneau 2006) between label sets given as bit masks."""
    inter = np.bitwise_count(a & b).astype(np.float64)
    union = np.bitwise_count(a | b).astype(np.float64)
    subset = ((a & b) == a) | ((a & b) == b)
    monotonicity = np.where(a == b, 1.0, np.where(subset, 2 / 3, 1 / 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, inter / union, 1.0)
    return np.where(inter > 0, jaccard * monotonicity, np.where(a == b, 1.0, 0.0))


def masi_observed(item: np.ndarray, mask: np.ndarray, n_items: int) -> np.ndarray:
    """Mean MASI agreement over the pairs of raters on each item; nan below two votes.

    Annotations are grouped by item; for each offset d, the pairs (j, j + d) inside an item are
    compared at once, so the work is O(annotations x largest item)."""
    order = np.argsort(item, kind="stable")
    items, masks = item[order], mask[order]
    n = np.bincount(items, minlength=n_items)
    total = np.zeros(n_items)
    largest = int(n.max(initial=0))
    for d in range(1, largest):
        same = items[:-d] == items[d:]
        np.add.at(total, items[:-d][same], masi_agreement(masks[:-d][same], masks[d:][same]))
    pairs = n * (n - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, total / pairs, np.nan)
