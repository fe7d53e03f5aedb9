"""Krippendorff's alpha from coincidence matrices, at every level of measurement, with missing
ratings; and alpha with any distance between values (agreement.metrics.multilabel uses MASI).

Source throughout: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", Annenberg
School for Communication, University of Pennsylvania (the coincidence matrix, the general form
with missing data and the difference functions); Hayes & Krippendorff (2007), "Answering the
call for a standard reliability measure for coding data", Communication Methods and Measures 1(1).

The coincidence matrix is built with one matrix product over all items rather than the
(items x values x values) array the ``krippendorff`` package builds, which keeps memory at
O(items x values) for large projects and wide rating scales; tests check both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from agreement.metrics.data import (
    Estimate,
    FloatArray,
    IntArray,
    Tally,
    as_domain,
    tally,
    within_item_pairs,
)

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class Alpha:
    """alpha = 1 - observed / expected disagreement (both nan when undefined)."""

    alpha: Estimate
    observed_disagreement: float
    expected_disagreement: float


def coincidences(counts: IntArray) -> FloatArray:
    """Coincidence matrix o_ck = sum_i n_ic (n_ik - [c = k]) / (m_i - 1) over items with
    m_i >= 2 values (Krippendorff 2011): each ordered pair of values within an item,
    weighted 1 / (m_i - 1) so that every pairable value counts once in total."""
    m = counts.sum(axis=1)
    used = counts[m >= 2].astype(np.float64)
    weighted = used / (m[m >= 2] - 1)[:, np.newaxis]
    o = weighted.T @ used
    o[np.diag_indices_from(o)] -= weighted.sum(axis=0)
    return o


def difference_matrix(domain: FloatArray, level: Level, marginals: FloatArray) -> FloatArray:
    """Squared differences delta^2_ck between the values of the domain (Krippendorff 2011, the
    difference functions): nominal [c != k]; ordinal (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2
    with n_g the pairable values of rank g; interval (c - k)^2; ratio ((c - k) / (c + k))^2.

    ``marginals`` may carry leading dimensions (one row of n_g per bootstrap replicate); only the
    ordinal differences depend on them.
    """
    size = len(domain)
    if level == "nominal":
        return 1.0 - np.eye(size)
    if level == "interval":
        return np.square(np.subtract.outer(domain, domain))
    if level == "ratio":
        sums = np.add.outer(domain, domain)
        diffs = np.subtract.outer(domain, domain)
        return np.square(np.divide(diffs, sums, out=np.zeros_like(diffs), where=sums != 0))
    if level == "ordinal":
        cumulative = np.cumsum(marginals, axis=-1)
        low = np.minimum.outer(np.arange(size), np.arange(size))
        high = np.maximum.outer(np.arange(size), np.arange(size))
        between = cumulative[..., high] - cumulative[..., low] + marginals[..., low]
        ends = (marginals[..., low] + marginals[..., high]) / 2.0
        differences: FloatArray = (between - ends) ** 2
        return differences
    raise ValueError(f"unknown level of measurement {level!r}")


def alpha_from_coincidences(
    o: FloatArray, domain: FloatArray, level: Level
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(alpha, D_o, D_e) from coincidence matrices o of shape (..., V, V):

        n_c = sum_k o_ck,  n = sum_c n_c
        D_o = sum_ck o_ck delta^2_ck / n
        D_e = sum_ck n_c n_k delta^2_ck / (n (n - 1))
        alpha = 1 - D_o / D_e

    nan where D_e = 0 (no variation among the pairable values) or n < 2.
    """
    marginals = o.sum(axis=-1)
    n = marginals.sum(axis=-1)
    delta = difference_matrix(domain, level, marginals)
    observed = (o * delta).sum(axis=(-2, -1))
    expected = np.einsum("...c,...ck,...k->...", marginals, delta, marginals)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_o = np.where(n > 0, observed / n, np.nan)
        d_e = np.where(n > 1, expected / (n * (n - 1)), np.nan)
        alpha = np.where(d_e > 0, 1.0 - d_o / d_e, np.nan)
    return alpha, d_o, d_e


def krippendorff_alpha(
    matrix: FloatArray, *, domain: ArrayLike | None = None, level: Level = "nominal"
) -> Alpha:
    """Krippendorff's alpha of a reliability matrix (raters x items, np.nan = missing).

    ``domain`` is the declared set of values (codes 0..q-1, or the rating scale); it must hold
    every value in the matrix. Values nobody used have no pairable values and change nothing at
    any level (for ordinal data the rank distances run over the declared scale, where an unused
    rank contributes n_g = 0, which is also how the ``krippendorff`` package treats a
    ``value_domain`` wider than the data); so the domain serves to check the values.

    Missing ratings: items with fewer than two values are left out (they cannot be paired);
    the rest enter the coincidence matrix with weight 1 / (m_i - 1), however many raters rated
    them. Undefined (nan with a reason) with fewer than two pairable values, or when all
    pairable values are the same (no variation: D_e = 0).
    """
    values = as_domain(domain, matrix)
    return alpha_of_tally(tally(matrix, values), domain=values, level=level)


def alpha_of_tally(tallied: Tally, *, domain: ArrayLike, level: Level = "nominal") -> Alpha:
    """``krippendorff_alpha`` from the matrix's ``Tally`` over the declared ``domain``: for a
    caller that already holds the items' value counts (alpha depends on nothing else)."""
    values = np.asarray(domain, dtype=np.float64)
    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r}")
    n_items, n_raters, n_pairable = tallied.n_items, tallied.n_raters, tallied.n_pairable
    if n_items == 0:
        estimate = Estimate(np.nan, 0, n_raters, 0, "no item has two or more ratings")
        return Alpha(estimate, np.nan, np.nan)
    alpha, d_o, d_e = alpha_from_coincidences(coincidences(tallied.counts), values, level)
    reason = "" if d_e > 0 else "all pairable values are the same: no variation, alpha undefined"
    estimate = Estimate(float(alpha), n_items, n_raters, n_pairable, reason)
    return Alpha(estimate, float(d_o), float(d_e))


def alpha_with_distance(
    items: IntArray, values: IntArray, distance: FloatArray, *, n_raters: int
) -> Alpha:
    """Krippendorff's alpha for values with any distance between them.

    ``items`` (sorted) and ``values`` list one row per rating; values are indices into the
    symmetric ``distance`` matrix (zero diagonal). With m_i values on item i, over items with
    m_i >= 2 and n their values in total:

        D_o = (1/n) sum_i 1/(m_i - 1) sum_{u != v in item i} d(x_u, x_v)
        D_e = 1/(n (n - 1)) sum_{u != v over all n values} d(x_u, x_v)
        alpha = 1 - D_o / D_e

    (Krippendorff 2011, with delta^2 replaced by d; the form NLTK's
    ``AnnotationTask.alpha`` computes with a custom distance, e.g. MASI.) ``n_raters`` is only
    reported. Undefined (nan) with no item of two values, or when D_e = 0.
    """
    m = np.bincount(items)[items] if len(items) else np.zeros(0, dtype=np.int64)
    keep = m >= 2
    items, values, m = items[keep], values[keep], m[keep]
    n = len(items)
    n_items = int(np.count_nonzero(np.diff(items))) + 1 if n else 0
    if n == 0:
        return Alpha(
            Estimate(np.nan, 0, n_raters, 0, "no item has two or more ratings"), np.nan, np.nan
        )
    first, second = within_item_pairs(items)
    within = 2.0 * distance[values[first], values[second]] / (m[first] - 1)
    d_o = float(within.sum()) / n
    totals = np.bincount(values, minlength=distance.shape[0]).astype(np.float64)
    d_e = float(totals @ distance @ totals) / (n * (n - 1)) if n > 1 else np.nan
    if not d_e > 0:
        reason = "all pairable values are the same: no variation, alpha undefined"
        return Alpha(Estimate(np.nan, n_items, n_raters, n, reason), d_o, d_e)
    return Alpha(Estimate(1.0 - d_o / d_e, n_items, n_raters, n), d_o, d_e)
