"""Bootstrap intervals over items: resample items with replacement, recompute, take percentiles.

Alpha and Fleiss' kappa depend on the items only through each item's value counts, so a
replicate is fully described by how many times each item is drawn, and items with the same
counts are interchangeable. ``alpha_interval`` and ``fleiss_interval`` therefore group the items
by their count vector (nominal data on a few categories has a few dozen such groups however many
items there are) and draw each replicate's group multiplicities from Multinomial(N, sizes / N),
which has exactly the distribution of the multiplicities when N items are drawn with
replacement. Each replicate is then a weighted sum of per-group contributions: no item is
touched again, and B = 1000 replicates cost milliseconds. When there are nearly as many groups
as items (wide scales, many raters per item), draws of N item indices are tallied instead.

Source: Efron & Tibshirani (1993), An Introduction to the Bootstrap, ch. 13 (percentile
interval); resampling units (items) rather than single values, as in Hayes & Krippendorff (2007).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from agreement.metrics.agreement import item_agreement
from agreement.metrics.alpha import Level, alpha_from_coincidences, difference_matrix
from agreement.metrics.data import FloatArray, IntArray, as_domain, group_rows, value_counts

Seed = int | np.random.Generator
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Interval:
    """Percentile interval; replicates where the statistic is undefined (nan) are left out of
    the percentiles and counted in ``n_undefined``. Both bounds are nan if all were undefined."""

    low: float
    high: float
    confidence: float
    n_resamples: int
    n_undefined: int


def percentile_interval(replicates: FloatArray, confidence: float) -> Interval:
    defined = replicates[~np.isnan(replicates)]
    n_undefined = len(replicates) - len(defined)
    if len(defined) == 0:
        return Interval(np.nan, np.nan, confidence, len(replicates), n_undefined)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail])
    return Interval(float(low), float(high), confidence, len(replicates), n_undefined)


def bootstrap_interval(
    matrix: FloatArray,
    statistic: Callable[[FloatArray], float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> Interval:
    """Percentile interval of any statistic of a reliability matrix: each replicate draws the
    matrix's items (columns) with replacement and calls ``statistic`` on the result. General but
    one full recompute per replicate; alpha and Fleiss' kappa have fast versions below."""
    rng = np.random.default_rng(seed)
    n_items = matrix.shape[1]
    replicates = np.array(
        [statistic(matrix[:, rng.integers(0, n_items, n_items)]) for _ in range(n_resamples)],
        dtype=np.float64,
    )
    return percentile_interval(replicates, confidence)


def alpha_interval(
    matrix: FloatArray,
    *,
    domain: ArrayLike | None = None,
    level: Level = "nominal",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> Interval:
    """Bootstrap interval of Krippendorff's alpha (``alpha.krippendorff_alpha``).

    Resamples the items with two or more values (the others do not enter alpha). A replicate
    with multiplicities w_g over groups g of identical items has coincidences o = sum_g w_g o_g;
    at the nominal, interval and ratio levels the differences delta^2 are fixed, so

        alpha = 1 - (n - 1) * sum_g w_g D_g / sum_ck n_c n_k delta^2_ck,
        D_g = sum_ck o_g,ck delta^2_ck,  n_c = sum_g w_g n_g,c

    and at the ordinal level, whose differences depend on the replicate's marginals, the whole
    coincidence matrix is summed per replicate.
    """
    values = as_domain(domain, matrix)
    return counts_alpha_interval(
        value_counts(matrix, values),
        domain=values,
        level=level,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )


def counts_alpha_interval(
    counts: IntArray,
    *,
    domain: FloatArray,
    level: Level = "nominal",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> Interval:
    """``alpha_interval`` from (n_items, V) value counts over ``domain`` instead of a matrix."""
    groups, _, sizes = group_rows(counts[counts.sum(axis=1) >= 2])
    replicates = np.concatenate(
        [
            alpha_replicates(groups, w, domain=domain, level=level)
            for w in resampled_multiplicities(np.random.default_rng(seed), sizes, n_resamples)
        ]
    )
    return percentile_interval(replicates, confidence)


def alpha_replicates(
    groups: IntArray, multiplicities: FloatArray, *, domain: FloatArray, level: Level
) -> FloatArray:
    """Alpha of each replicate: ``multiplicities[b, g]`` copies of an item whose value counts are
    ``groups[g]`` (every group with two or more values). Equal to ``krippendorff_alpha`` of the
    matrix holding those copies."""
    weights = groups.astype(np.float64)
    per_value = weights / (weights.sum(axis=1) - 1.0)[:, np.newaxis]
    w = multiplicities
    if level == "ordinal":
        size = len(domain)
        o = np.stack([(w * per_value[:, c]) @ weights for c in range(size)], axis=1)
        o[:, np.arange(size), np.arange(size)] -= w @ per_value
        return alpha_from_coincidences(o, domain, level)[0]
    delta = difference_matrix(domain, level, weights.sum(axis=0))
    disagreement = ((per_value @ delta) * weights).sum(axis=1)
    marginals = w @ weights
    n = marginals.sum(axis=1)
    expected = ((marginals @ delta) * marginals).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1.0) * (w @ disagreement) / expected
    return np.where(expected > 0, alpha, np.nan)


def fleiss_interval(
    matrix: FloatArray,
    *,
    domain: ArrayLike | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: Seed = 0,
) -> Interval:
    """Bootstrap interval of Fleiss' kappa (``kappa.fleiss_kappa``), resampling the items with at
    least one rating (all of them count in the category proportions p_j)."""
    values = as_domain(domain, matrix)
    return counts_fleiss_interval(
        value_counts(matrix, values), n_resamples=n_resamples, confidence=confidence, seed=seed
    )


def counts_fleiss_interval(
    counts: IntArray, *, n_resamples: int = 1000, confidence: float = 0.95, seed: Seed = 0
) -> Interval:
    """``fleiss_interval`` from (n_items, V) value counts instead of a matrix."""
    groups, _, sizes = group_rows(counts[counts.sum(axis=1) >= 1])
    replicates = np.concatenate(
        [
            fleiss_replicates(groups, w)
            for w in resampled_multiplicities(np.random.default_rng(seed), sizes, n_resamples)
        ]
    )
    return percentile_interval(replicates, confidence)


def fleiss_replicates(groups: IntArray, multiplicities: FloatArray) -> FloatArray:
    """Fleiss' kappa of each replicate (see ``alpha_replicates``):

    P = sum_g w_g [n_g >= 2] P_g / sum_g w_g [n_g >= 2],  p = sum_g w_g n_g / sum_g w_g |n_g|,
    kappa = (P - sum_j p_j^2) / (1 - sum_j p_j^2).
    """
    agreement = item_agreement(groups)
    pairable = (~np.isnan(agreement)).astype(np.float64)
    w = multiplicities
    used = w @ pairable
    totals = w @ groups.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (w @ np.nan_to_num(agreement)) / used
        proportions = totals / totals.sum(axis=1, keepdims=True)
        expected = (proportions**2).sum(axis=1)
        kappa = (observed - expected) / (1.0 - expected)
    return np.where((used > 0) & (expected < 1.0), kappa, np.nan)


def resampled_multiplicities(
    rng: np.random.Generator, sizes: IntArray, n_resamples: int
) -> Iterator[FloatArray]:
    """Chunks of rows w (one per replicate) of how many times each group is drawn when all
    N = sum(sizes) items are drawn with replacement."""
    n_items = int(sizes.sum())
    n_groups = len(sizes)
    if n_items == 0:
        for start in range(0, n_resamples, _CHUNK_ELEMENTS):
            yield np.zeros((min(_CHUNK_ELEMENTS, n_resamples - start), n_groups))
        return
    few_groups = n_groups * 20 <= n_items
    width = n_groups if few_groups else n_items
    chunk = max(1, _CHUNK_ELEMENTS // max(width, 1))
    group_of_item = np.repeat(np.arange(n_groups), sizes)
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        if few_groups:
            yield rng.multinomial(n_items, sizes / n_items, size=rows).astype(np.float64)
        else:
            drawn = group_of_item[rng.integers(0, n_items, size=(rows, n_items))]
            flat = (np.arange(rows)[:, np.newaxis] * n_groups + drawn).ravel()
            yield (
                np.bincount(flat, minlength=rows * n_groups)
                .reshape(rows, n_groups)
                .astype(np.float64)
            )
