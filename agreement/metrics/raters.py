"""Per-rater figures for the scorecards: how often each rater agrees with the others."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from agreement.metrics.data import FloatArray, IntArray, as_domain, long_form, value_index


@dataclass(frozen=True)
class ConsensusAgreement:
    """Per rater (index = rater): ``n_items`` items with a majority of the others, ``n_agree``
    those where the rater gave the majority's value, ``n_ties`` items left out because the others
    were tied, ``agreement`` = n_agree / n_items (nan when n_items is 0)."""

    n_items: IntArray
    n_agree: IntArray
    n_ties: IntArray
    agreement: FloatArray


def consensus_agreement(
    matrix: FloatArray, *, domain: ArrayLike | None = None
) -> ConsensusAgreement:
    """Agreement of each rater with the leave-one-out majority of the *other* raters.

    For each rating of rater r on item i, the others' ratings on i are tallied without r's; if
    one value has strictly more of them than any other, it is the consensus and r agrees when
    r gave it. Items where the others are tied for first place are excluded (and counted in
    ``n_ties``), as are items nobody else rated. With one other rating, its value is the
    consensus. Leaving r out keeps a rater from agreeing with a majority they made themselves.

    All ratings at once: the others' tallies are the item's tallies minus the rater's own value.
    """
    values = as_domain(domain, matrix)
    items, raters, rated = long_form(matrix)
    own = value_index(rated, values)
    size = len(values)
    n_raters = matrix.shape[0]
    tallies = np.bincount(items * size + own, minlength=matrix.shape[1] * size).reshape(-1, size)
    others = tallies[items]
    others[np.arange(len(items)), own] -= 1
    top = others.max(axis=1)
    leaders = (others == top[:, np.newaxis]).sum(axis=1)
    has_others = top > 0
    decided = has_others & (leaders == 1)
    tied = has_others & (leaders > 1)
    agree = decided & (others.argmax(axis=1) == own)
    n_items = np.bincount(raters[decided], minlength=n_raters)
    n_agree = np.bincount(raters[agree], minlength=n_raters)
    n_ties = np.bincount(raters[tied], minlength=n_raters)
    agreement = np.full(n_raters, np.nan)
    np.divide(n_agree, n_items, out=agreement, where=n_items > 0)
    return ConsensusAgreement(
        n_items.astype(np.int64), n_agree.astype(np.int64), n_ties.astype(np.int64), agreement
    )
