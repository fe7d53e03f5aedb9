"""Kappa statistics: Cohen's kappa for every pair of raters, Fleiss' kappa over all raters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from agreement.metrics.agreement import item_agreement, specific_agreement
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
    value_index,
    within_item_pairs,
)

KappaWeights = Literal["linear", "quadratic"] | None


def kappa_disagreement_weights(size: int, weights: KappaWeights) -> FloatArray:
    """Disagreement weights over the positions 0..size-1 of the declared domain: 1 off the
    diagonal (unweighted), |i - j| (linear) or (i - j)^2 (quadratic), as in Cohen (1968) and
    scikit-learn's ``cohen_kappa_score``."""
    positions = np.arange(size, dtype=np.float64)
    distance = np.abs(positions[:, np.newaxis] - positions[np.newaxis, :])
    if weights is None:
        return (distance > 0).astype(np.float64)
    if weights == "linear":
        return distance
    if weights == "quadratic":
        return np.square(distance)
    raise ValueError(f"unknown kappa weights {weights!r}")


def cohen_kappa_pairs(
    matrix: FloatArray,
    *,
    domain: ArrayLike | None = None,
    weights: KappaWeights = None,
    min_items: int = 2,
) -> RaterPairs:
    """Cohen's kappa for every pair of raters sharing at least ``min_items`` items.

    For raters a and b, with o_jk the share of their common items that a put in domain[j] and b
    in domain[k], e_jk = o_j. * o_.k, and disagreement weights w_jk:

        kappa = 1 - sum_jk w_jk o_jk / sum_jk w_jk e_jk

    Unweighted: w = 1 off the diagonal (Cohen 1960, "A coefficient of agreement for nominal
    scales", Educ. Psychol. Meas. 20). Weighted: w = |j - k| or (j - k)^2 over the positions of
    the *declared* domain, so a rating scale's unused ends still count (Cohen 1968, "Weighted
    kappa", Psychol. Bull. 70). Identical to ``sklearn.metrics.cohen_kappa_score(y_a, y_b,
    labels=domain, weights=weights)`` for each pair; here all pairs' contingency tables come from
    one pass over every pair of ratings on the same item instead of one call per pair.

    Missing ratings: a pair uses only the items both rated. Pairs sharing fewer than
    ``min_items`` items are left out; kappa is nan for a pair whose expected disagreement is 0
    (both raters used one and the same value throughout).
    """
    values = as_domain(domain, matrix)
    items, raters, rated = long_form(matrix)
    tables = pair_tables(items, raters, rated, n_raters=matrix.shape[0], domain=values)
    keep = tables.n_items >= min_items
    return RaterPairs(
        rater_a=tables.rater_a[keep],
        rater_b=tables.rater_b[keep],
        n_items=tables.n_items[keep],
        value=kappa_of_tables(tables.tables[keep].astype(np.float64), weights),
    )


@dataclass(frozen=True)
class PairTables:
    """One contingency table per pair of raters (rater_a < rater_b) who share an item:
    ``tables[p, j, k]`` counts the items on which rater_a gave domain[j] and rater_b domain[k]."""

    rater_a: IntArray
    rater_b: IntArray
    tables: IntArray

    @property
    def n_items(self) -> IntArray:
        shared: IntArray = self.tables.sum(axis=(1, 2))
        return shared


def pair_tables(
    items: IntArray, raters: IntArray, values: FloatArray, *, n_raters: int, domain: FloatArray
) -> PairTables:
    """Every pair of raters' contingency table, from long-form ratings (one row each) ordered
    by item, then rater (as ``data.long_form`` returns them): one pass over every pair of
    ratings on the same item, not one per pair of raters."""
    size = len(domain)
    first, second = within_item_pairs(items)
    rater_a, rater_b = raters[first], raters[second]
    keys, pair, _ = distinct_keys(rater_a * n_raters + rater_b, n_raters * n_raters)
    index = value_index(values, domain)
    cell = (pair * size + index[first]) * size + index[second]
    tables = np.bincount(cell, minlength=len(keys) * size * size).reshape(len(keys), size, size)
    return PairTables(
        rater_a=(keys // n_raters).astype(np.int64),
        rater_b=(keys % n_raters).astype(np.int64),
        tables=tables.astype(np.int64),
    )


def kappa_of_tables(tables: FloatArray, weights: KappaWeights) -> FloatArray:
    """Cohen's kappa (``cohen_kappa_pairs``) of a stack of (size x size) contingency tables, one
    per pair of raters; nan where the expected disagreement is 0."""
    w = kappa_disagreement_weights(tables.shape[1], weights)
    totals = tables.sum(axis=(1, 2))
    rows = tables.sum(axis=2)
    cols = tables.sum(axis=1)
    observed = (tables * w).sum(axis=(1, 2))
    expected = np.einsum("pj,jk,pk->p", rows, w, cols) / np.maximum(totals, 1)
    kappa = np.full(len(tables), np.nan)
    np.divide(observed, expected, out=kappa, where=expected > 0)
    out: FloatArray = np.where(expected > 0, 1.0 - kappa, np.nan)
    return out


@dataclass(frozen=True)
class FleissKappa:
    """Fleiss' kappa with its parts: ``observed`` = P-bar, ``expected`` = P-bar_e = sum_j p_j^2,
    ``per_item`` = P_i (nan for items with fewer than two ratings), ``proportions`` = p_j,
    ``per_category`` = kappa_j (nan where p_j is 0 or 1)."""

    kappa: Estimate
    observed: float
    expected: float
    per_item: FloatArray
    proportions: FloatArray
    per_category: FloatArray


def fleiss_kappa(matrix: FloatArray, *, domain: ArrayLike | None = None) -> FleissKappa:
    """Fleiss' kappa for many raters, generalised to unequal numbers of ratings per item.

    With n_ij the number of ratings of item i in category j and n_i = sum_j n_ij:

        P_i  = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1))        for items with n_i >= 2
        P    = mean of P_i over the items with n_i >= 2
        p_j  = sum_i n_ij / sum_i n_i                           over all ratings
        P_e  = sum_j p_j^2
        kappa = (P - P_e) / (1 - P_e)

    and per category kappa_j = (P_j - p_j) / (1 - p_j), with P_j = sum_i n_ij (n_ij - 1) /
    sum_i n_ij (n_i - 1) the agreement among pairs involving category j (items with n_i >= 2).

    Source: Fleiss (1971), "Measuring nominal scale agreement among many raters", Psychological
    Bulletin 76(5), 378-382 (kappa and the category kappas kappa_j), written there for the same
    number n of ratings on every item. Items here have different numbers of ratings, so this is
    the generalisation to unequal n_i: each item's P_i is the share of its own agreeing pairs,
    P weighs items equally, items with one rating are left out of P but their ratings count in
    p_j. When every item has the same n_i it is Fleiss (1971) exactly (and equals
    ``statsmodels.stats.inter_rater.fleiss_kappa``). Gwet's irrCAC (fleiss.kappa.raw) differs
    with unequal n_i: it averages each item's proportions n_ij / n_i for p_j.

    Undefined (nan, with a reason) when no item has two ratings, or when all ratings fall in one
    category (P_e = 1).
    """
    values = as_domain(domain, matrix)
    return fleiss_kappa_of_tally(tally(matrix, values), domain=values)


def fleiss_kappa_of_tally(tallied: Tally, *, domain: ArrayLike) -> FleissKappa:
    """``fleiss_kappa`` from the matrix's ``Tally`` over the declared ``domain`` (Fleiss' kappa
    depends on the items' value counts only)."""
    values = np.asarray(domain, dtype=np.float64)
    counts = tallied.counts
    n_items, n_raters, n_pairable = tallied.n_items, tallied.n_raters, tallied.n_pairable
    per_item = item_agreement(counts)
    used = tallied.pairable
    totals = counts.sum(axis=0).astype(np.float64)
    proportions = totals / totals.sum() if totals.sum() else np.full(len(values), np.nan)
    expected = float((proportions**2).sum())
    per_category = _category_kappas(specific_agreement(counts), proportions)

    if n_items == 0:
        estimate = Estimate(np.nan, 0, n_raters, 0, "no item has two or more ratings")
        return FleissKappa(estimate, np.nan, expected, per_item, proportions, per_category)
    observed = float(per_item[used].mean())
    if expected >= 1.0:
        reason = "all ratings are in one category: chance agreement is 1 and kappa undefined"
        estimate = Estimate(np.nan, n_items, n_raters, n_pairable, reason)
    else:
        kappa = (observed - expected) / (1.0 - expected)
        estimate = Estimate(kappa, n_items, n_raters, n_pairable)
    return FleissKappa(estimate, observed, expected, per_item, proportions, per_category)


def _category_kappas(specific: FloatArray, proportions: FloatArray) -> FloatArray:
    out = np.full(len(proportions), np.nan)
    defined = ~np.isnan(specific) & (proportions > 0) & (proportions < 1)
    out[defined] = (specific[defined] - proportions[defined]) / (1.0 - proportions[defined])
    return out
