"""Majority vote: each item takes the label most of its raters gave."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agreement.aggregation.result import (
    AggregationResult,
    FloatArray,
    IntArray,
    check_long_form,
    decide,
)


def vote_counts(items: IntArray, labels: IntArray, *, n_items: int, q: int) -> IntArray:
    """n_items x q: how many annotations of each item gave each label (checked inputs)."""
    flat = np.bincount(items * q + labels, minlength=n_items * q)
    return flat.reshape(n_items, q)


def vote_shares(counts: IntArray) -> tuple[FloatArray, IntArray]:
    """Each row of `counts` divided by its total (a row of zeros where the total is 0)."""
    n_ratings = counts.sum(axis=1)
    shares = counts / np.maximum(n_ratings, 1)[:, None]
    return shares.astype(np.float64, copy=False), n_ratings.astype(np.intp, copy=False)


def majority_vote(
    item_idx: npt.ArrayLike,
    rater_idx: npt.ArrayLike,
    label_codes: npt.ArrayLike,
    *,
    n_items: int,
    n_raters: int,
    q: int,
) -> AggregationResult:
    """Plurality vote over each item's annotations.

    The share of label c on item i is n_ic / n_i, where n_ic counts the annotations of i that gave
    c and n_i all annotations of i (a rater who rated an item twice counts twice). The label is
    argmax_c n_ic and its confidence that share. When two or more labels share the top count the
    item is a tie: `tie` is True and the label is -1 (never silently the lowest code); the
    confidence is then the share the tied labels hold. An item with no annotations has label -1,
    confidence 0.0 and a row of zeros.

    Plurality voting is the baseline of every crowdsourcing comparison, e.g. Sheshadri & Lease,
    "SQUARE: A Benchmark for Research on Computing Crowd Consensus", HCOMP 2013.
    """
    items, _raters, labels = check_long_form(
        item_idx, rater_idx, label_codes, n_items=n_items, n_raters=n_raters, q=q
    )
    shares, n_ratings = vote_shares(vote_counts(items, labels, n_items=n_items, q=q))
    label, confidence, tie = decide(shares, n_ratings)
    return AggregationResult(
        method="majority",
        label=label,
        confidence=confidence,
        tie=tie,
        distribution=shares,
        n_ratings=n_ratings,
    )
