"""Agreement on multi-label annotations: Krippendorff's alpha per label (binary), and alpha over
whole label sets with the MASI distance, with bootstrap intervals."""

from __future__ import annotations

import numpy as np

from agreement.metrics.alpha import Alpha, alpha_with_distance
from agreement.metrics.bootstrap import (
    Interval,
    Seed,
    counts_alpha_interval,
    percentile_interval,
    resampled_multiplicities,
)
from agreement.metrics.data import BoolArray, Estimate, FloatArray, IntArray, LabelSets, group_rows

_NO_PAIRS = "no item has two or more annotations"
_NO_VARIATION = "the label is chosen on every pairable annotation or on none: alpha undefined"


def label_matrix(sets: LabelSets, label: int) -> FloatArray:
    """The (n_raters, n_items) reliability matrix of one label: 1.0 chosen, 0.0 not chosen,
    np.nan where the rater did not annotate the item."""
    return np.where(sets.present, sets.chosen[:, :, label].astype(np.float64), np.nan)


def label_counts(sets: LabelSets) -> tuple[IntArray, IntArray]:
    """(m, c): m[i] annotations on item i, c[i, l] of them choosing label l."""
    m = np.add.reduce(sets.present.view(np.uint8), axis=0, dtype=np.int32)
    c = np.add.reduce(sets.chosen.view(np.uint8), axis=0, dtype=np.int32)
    return m.astype(np.int64), c.astype(np.int64)


def label_alphas(sets: LabelSets) -> tuple[Estimate, ...]:
    """Krippendorff's alpha of each label, as nominal data on {0, 1} (chosen or not).

    All labels at once: with m_i annotations on item i and c_il of them choosing label l, over
    items with m_i >= 2 (n = sum m_i, C_l = sum c_il):

        alpha_l = 1 - (n - 1) * sum_i 2 c_il (m_i - c_il) / (m_i - 1) / (2 C_l (n - C_l))

    which is Krippendorff's (2011) nominal alpha on the binary coincidence matrix. An annotation
    that chose no label counts as "not chosen" for every label. Undefined (nan with a reason) for
    a label chosen on all pairable annotations or on none.
    """
    m, c = label_counts(sets)
    used = m >= 2
    m_used = m[used, np.newaxis].astype(np.float64)
    chosen = c[used].astype(np.float64)
    n = float(m_used.sum())
    n_items = int(used.sum())
    n_raters = int(np.count_nonzero(sets.present[:, used].any(axis=1))) if n_items else 0
    if n_items == 0:
        return tuple(Estimate(np.nan, 0, n_raters, 0, _NO_PAIRS) for _ in range(c.shape[1]))
    disagreeing = (2.0 * chosen * (m_used - chosen) / (m_used - 1.0)).sum(axis=0)
    totals = chosen.sum(axis=0)
    expected = 2.0 * totals * (n - totals)
    out = []
    for d, e in zip(disagreeing, expected, strict=True):
        if e > 0:
            out.append(Estimate(1.0 - (n - 1.0) * d / e, n_items, n_raters, int(n)))
        else:
            out.append(Estimate(np.nan, n_items, n_raters, int(n), _NO_VARIATION))
    return tuple(out)


def label_alpha_intervals(
    sets: LabelSets, *, n_resamples: int = 1000, confidence: float = 0.95, seed: Seed = 0
) -> tuple[Interval, ...]:
    """Bootstrap interval of each label's alpha (``label_alphas``), resampling items as
    ``bootstrap.alpha_interval`` does; the same seed for every label."""
    m, c = label_counts(sets)
    binary = np.array([0.0, 1.0])
    return tuple(
        counts_alpha_interval(
            np.stack([m - c[:, label], c[:, label]], axis=1),
            domain=binary,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
        for label in range(c.shape[1])
    )


def masi_distances(sets_a: BoolArray, sets_b: BoolArray) -> FloatArray:
    """MASI distance between every row of ``sets_a`` and of ``sets_b`` (boolean label rows):

        MASI(A, B) = 1 - J(A, B) * M(A, B),  J = |A & B| / |A | B|,
        M = 1 if A = B, 2/3 if one contains the other, 1/3 if they overlap otherwise, 0 if disjoint

    Passonneau (2006), "Measuring agreement on set-valued items (MASI) for semantic and pragmatic
    annotation", LREC 2006. Two empty sets are equal (distance 0); an empty set and a non-empty
    one are disjoint (distance 1).
    """
    a = sets_a.astype(np.float64)
    b = sets_b.astype(np.float64)
    inter = a @ b.T
    size_a = a.sum(axis=1)[:, np.newaxis]
    size_b = b.sum(axis=1)[np.newaxis, :]
    union = size_a + size_b - inter
    jaccard = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    equal = (inter == size_a) & (inter == size_b)
    nested = inter == np.minimum(size_a, size_b)
    monotonicity = np.select([equal, nested, inter > 0], [1.0, 2.0 / 3.0, 1.0 / 3.0], default=0.0)
    return 1.0 - jaccard * monotonicity


def masi_alpha(sets: LabelSets) -> Alpha:
    """Krippendorff's alpha over whole label sets with the MASI distance (Passonneau 2006;
    Krippendorff 2011 for alpha with a custom distance, see ``alpha_with_distance``).

    Each annotation's label set is one value; D_o averages MASI over pairs of annotations of the
    same item, D_e over all pairs of pairable annotations. The distances are computed once per
    pair of *distinct* label sets, so the cost grows with the square of the number of distinct
    sets used (at most 2^labels), not of annotations.
    """
    item_index, rater_index = np.nonzero(sets.present.T)
    rows = sets.chosen[rater_index, item_index, :]
    packed, set_index, _ = group_rows(np.packbits(rows, axis=1).astype(np.int64))
    distinct = np.unpackbits(packed.astype(np.uint8), axis=1, count=rows.shape[1]).astype(bool)
    distance = masi_distances(distinct, distinct)
    m = np.bincount(item_index, minlength=sets.present.shape[1])
    on_pairable = np.bincount(rater_index[m[item_index] >= 2], minlength=sets.present.shape[0])
    n_raters = int(np.count_nonzero(on_pairable))
    return alpha_with_distance(item_index.astype(np.int64), set_index, distance, n_raters=n_raters)


def masi_alpha_interval(
    sets: LabelSets, *, n_resamples: int = 1000, confidence: float = 0.95, seed: Seed = 0
) -> Interval:
    """Bootstrap interval of ``masi_alpha``, resampling the items with two or more annotations
    (the others do not enter alpha), as ``bootstrap.alpha_interval`` does for alpha on values.

    Items are grouped by the multiset of label sets on them (a sorted tuple of distinct-set
    indices), and each replicate draws the groups' multiplicities w_g. With m_g annotations on
    an item of group g, W_g = sum over its ordered pairs of annotations of d / (m_g - 1) and
    t_s the replicate's annotations with label set s:

        n = sum_g w_g m_g,  D_o = sum_g w_g W_g / n,  D_e = sum_st t_s d_st t_t / (n (n - 1))

    and alpha = 1 - D_o / D_e (nan where D_e = 0), which is ``masi_alpha`` of the resampled
    items. The cost grows with the number of groups, not of items.
    """
    item_index, rater_index = np.nonzero(sets.present.T)
    m = np.bincount(item_index, minlength=sets.present.shape[1])
    keep = m[item_index] >= 2
    item_index, rater_index = item_index[keep], rater_index[keep]
    rows = sets.chosen[rater_index, item_index, :]
    packed, set_index, _ = group_rows(np.packbits(rows, axis=1).astype(np.int64))
    n_sets = len(packed)
    distinct = np.unpackbits(packed.astype(np.uint8), axis=1, count=rows.shape[1]).astype(bool)
    distance = masi_distances(distinct, distinct)
    if len(item_index) == 0:
        return percentile_interval(np.full(n_resamples, np.nan), confidence)
    # Each item's sorted set indices, padded with n_sets, as one row: items with the same row
    # are interchangeable.
    _, item_local = np.unique(item_index, return_inverse=True)
    sizes = np.bincount(item_local)
    width = int(sizes.max())
    order = np.lexsort((set_index, item_local))
    slot = np.arange(len(order)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    tuples = np.full((len(sizes), width), n_sets, dtype=np.int64)
    tuples[item_local[order], slot] = set_index[order]
    groups, _, group_sizes = group_rows(tuples)
    present = groups < n_sets
    m_g = present.sum(axis=1).astype(np.float64)
    padded = np.zeros((n_sets + 1, n_sets + 1))
    padded[:n_sets, :n_sets] = distance
    within = np.zeros(len(groups))
    for j in range(width):
        for k in range(width):
            if j != k:
                within += padded[groups[:, j], groups[:, k]]
    within /= m_g - 1.0
    slots = []
    for j in range(width):
        columns = np.flatnonzero(present[:, j])
        by_set = columns[np.argsort(groups[columns, j], kind="stable")]
        sets_here, starts = np.unique(groups[by_set, j], return_index=True)
        slots.append((by_set, sets_here, starts))
    replicates = []
    for w in resampled_multiplicities(np.random.default_rng(seed), group_sizes, n_resamples):
        n = w @ m_g
        totals = np.zeros((len(w), n_sets))
        for by_set, sets_here, starts in slots:
            if len(by_set):
                totals[:, sets_here] += np.add.reduceat(w[:, by_set], starts, axis=1)
        expected = ((totals @ distance) * totals).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = 1.0 - (n - 1.0) * (w @ within) / expected
        replicates.append(np.where(expected > 0, alpha, np.nan))
    return percentile_interval(np.concatenate(replicates), confidence)
