"""Observed (raw) agreement: overall, per item, per category and per pair of raters.

No chance correction here; these are the figures a lead reads first and the ingredients of
Fleiss' kappa (agreement.metrics.kappa).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from agreement.metrics.data import (
    Estimate,
    FloatArray,
    IntArray,
    RaterPairs,
    Tally,
    as_domain,
    distinct_keys,
    long_form,
    tally,
    within_item_pairs,
)


@dataclass(frozen=True)
class ObservedAgreement:
    """``overall`` is the mean of ``per_item`` over items with two or more ratings; ``per_item``
    is nan for the others; ``per_category[v]`` is the specific agreement on domain[v] (nan for a
    value nobody used on such an item)."""

    overall: Estimate
    per_item: FloatArray
    per_category: FloatArray


def item_agreement(counts: IntArray) -> FloatArray:
    """P_i = sum_v n_iv (n_iv - 1) / (n_i (n_i - 1)): the share of ordered pairs of ratings on
    item i that agree (Fleiss 1971, with n_i ratings on item i); nan when n_i < 2."""
    n_i = counts.sum(axis=1)
    agreeing = (counts * (counts - 1)).sum(axis=1)
    pairs = n_i * (n_i - 1)
    out = np.full(len(n_i), np.nan)
    np.divide(agreeing, pairs, out=out, where=pairs > 0)
    return out


def specific_agreement(counts: IntArray) -> FloatArray:
    """Specific agreement on each value v, over items with two or more ratings:

        p_s(v) = sum_i n_iv (n_iv - 1) / sum_i n_iv (n_i - 1)

    agreeing ordered pairs on v over all ordered pairs that involve a rating of v. With two
    raters it is 2a / (2a + b + c), the positive (or negative) agreement of a 2x2 table
    (Fleiss 1975; Uebersax 1982; Cicchetti & Feinstein 1990). nan for a value never used on
    an item with two or more ratings.
    """
    n_i = counts.sum(axis=1, keepdims=True)
    used = counts * (n_i >= 2)
    agreeing = (used * (used - 1)).sum(axis=0)
    involved = (used * (n_i - 1)).sum(axis=0)
    out = np.full(counts.shape[1], np.nan)
    np.divide(agreeing, involved, out=out, where=involved > 0)
    return out


def observed_agreement(matrix: FloatArray, *, domain: ArrayLike | None = None) -> ObservedAgreement:
    """Percent agreement of a reliability matrix (raters x items, np.nan = missing).

    Overall: P-bar = mean of P_i over items with n_i >= 2 ratings (items with fewer are left out:
    a single rating agrees with nobody). Each P_i weighs its item equally, whatever its n_i.
    Source: Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological
    Bulletin 76(5), 378-382, generalised to n_i ratings per item.
    """
    return observed_agreement_of_tally(tally(matrix, as_domain(domain, matrix)))


def observed_agreement_of_tally(counts: Tally) -> ObservedAgreement:
    """``observed_agreement`` from the matrix's ``Tally`` (the items' value counts)."""
    per_item = item_agreement(counts.counts)
    if counts.n_items == 0:
        overall = Estimate(np.nan, 0, counts.n_raters, 0, "no item has two or more ratings")
    else:
        mean = float(per_item[counts.pairable].mean())
        overall = Estimate(mean, counts.n_items, counts.n_raters, counts.n_pairable)
    return ObservedAgreement(overall, per_item, specific_agreement(counts.counts))


def rating_pairs(matrix: FloatArray) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Every pair of ratings on the same item: (rater_a, rater_b, value_a, value_b), a < b."""
    items, raters, values = long_form(matrix)
    first, second = within_item_pairs(items)
    return raters[first], raters[second], values[first], values[second]


def pairwise_agreement(matrix: FloatArray, *, min_items: int = 1) -> RaterPairs:
    """For each pair of raters with at least ``min_items`` items in common: the share of those
    items on which they gave the same value. Pairs sharing fewer items are left out."""
    rater_a, rater_b, value_a, value_b = rating_pairs(matrix)
    n_raters = matrix.shape[0]
    pair_key = rater_a * n_raters + rater_b
    keys, inverse, shared = distinct_keys(pair_key, n_raters * n_raters)
    agreeing = np.bincount(inverse, weights=(value_a == value_b), minlength=len(keys))
    keep = shared >= min_items
    return RaterPairs(
        rater_a=(keys[keep] // n_raters).astype(np.int64),
        rater_b=(keys[keep] % n_raters).astype(np.int64),
        n_items=shared[keep].astype(np.int64),
        value=agreeing[keep] / shared[keep],
    )
