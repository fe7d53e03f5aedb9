"""Gwet's AC1 (nominal) and AC2 (weighted) agreement coefficients for many raters with missing
ratings.

Source: Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., Advanced Analytics, ch. 2-3
(AC1/AC2 for multiple raters, and the weights), in the form of the ``gwet.ac1.raw`` function of
Gwet's irrCAC R package (and its Python port ``irrCAC.raw.CAC.gwet``), which tests compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from agreement.metrics.data import (
    Estimate,
    FloatArray,
    Tally,
    as_domain,
    tally,
)

GwetWeights = Literal["identity", "linear", "quadratic", "ordinal"]


@dataclass(frozen=True)
class GwetAC:
    """The coefficient with its percent agreement ``pa`` and chance agreement ``pe``."""

    coefficient: Estimate
    pa: float
    pe: float


def gwet_weights(domain: FloatArray, kind: GwetWeights) -> FloatArray:
    """Agreement weights w_kl over the declared values (Gwet 2014, ch. 3):

    identity [k = l]; linear 1 - |x_k - x_l| / (x_max - x_min); quadratic
    1 - (x_k - x_l)^2 / (x_max - x_min)^2; ordinal 1 - M_kl / max M with
    M_kl = C(|k - l| + 1, 2) over the ranks k, l of the values.
    """
    size = len(domain)
    if kind == "identity" or size < 2:
        return np.eye(size)
    spread = float(domain[-1] - domain[0])
    gaps = np.abs(domain[:, np.newaxis] - domain[np.newaxis, :])
    if kind == "linear":
        return 1.0 - gaps / spread
    if kind == "quadratic":
        return 1.0 - (gaps / spread) ** 2
    if kind == "ordinal":
        ranks = np.abs(np.subtract.outer(np.arange(size), np.arange(size))) + 1.0
        pairs = ranks * (ranks - 1.0) / 2.0
        return 1.0 - pairs / pairs.max()
    raise ValueError(f"unknown Gwet weights {kind!r}")


def gwet_ac(
    matrix: FloatArray, *, domain: ArrayLike | None = None, weights: GwetWeights = "identity"
) -> GwetAC:
    """Gwet's AC1 (identity weights) or AC2 (other weights) of a reliability matrix.

    With r_ik the raters who put item i in category k, r_i = sum_k r_ik, weighted counts
    r*_ik = sum_l w_kl r_il, q the number of *declared* categories and T_w = sum_kl w_kl:

        p_a = (1/n'') sum_{i: r_i >= 2} sum_k r_ik (r*_ik - 1) / (r_i (r_i - 1))
        pi_k = (1/n') sum_{i: r_i >= 1} r_ik / r_i
        p_e = T_w / (q (q - 1)) * sum_k pi_k (1 - pi_k)
        AC = (p_a - p_e) / (1 - p_e)

    n'' counts items with two or more ratings, n' items with at least one (Gwet 2014, ch. 2 for
    AC1 with missing ratings, ch. 3 for the weighted form). Missing ratings: an item's agreement
    uses the ratings it has; items rated once add to the category propensities pi_k only.

    Undefined (nan with a reason) when no item has two ratings or fewer than two categories are
    declared.
    """
    values = as_domain(domain, matrix)
    return gwet_ac_of_tally(tally(matrix, values), domain=values, weights=weights)


def gwet_ac_of_tally(
    tallied: Tally, *, domain: ArrayLike, weights: GwetWeights = "identity"
) -> GwetAC:
    """``gwet_ac`` from the matrix's ``Tally`` over the declared ``domain`` (the coefficient
    depends on the items' value counts only)."""
    values = np.asarray(domain, dtype=np.float64)
    w = gwet_weights(values, weights)
    n_items, n_raters, n_pairable = tallied.n_items, tallied.n_raters, tallied.n_pairable
    counts = tallied.counts.astype(np.float64)
    r_i = counts.sum(axis=1)
    used = tallied.pairable
    q = len(values)
    if q < 2:
        reason = "fewer than two categories declared"
        return GwetAC(Estimate(np.nan, n_items, n_raters, n_pairable, reason), np.nan, np.nan)
    if n_items == 0:
        reason = "no item has two or more ratings"
        return GwetAC(Estimate(np.nan, 0, n_raters, 0, reason), np.nan, np.nan)
    weighted = counts @ w.T
    agreeing = (counts[used] * (weighted[used] - 1.0)).sum(axis=1)
    pa = float((agreeing / (r_i[used] * (r_i[used] - 1.0))).mean())
    rated = r_i >= 1
    pi = (counts[rated] / r_i[rated, np.newaxis]).mean(axis=0)
    pe = float(w.sum() * (pi * (1.0 - pi)).sum() / (q * (q - 1)))
    if pe >= 1.0:
        reason = "chance agreement is 1: the coefficient is undefined"
        return GwetAC(Estimate(np.nan, n_items, n_raters, n_pairable, reason), pa, pe)
    ac = (pa - pe) / (1.0 - pe)
    return GwetAC(Estimate(ac, n_items, n_raters, n_pairable), pa, pe)
