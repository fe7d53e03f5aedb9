"""The input shapes of the agreement statistics, what they return, and the tallies they share.

A reliability matrix (the reliability data of Krippendorff 2011, "Computing Krippendorff's
Alpha-Reliability") is a float array of shape (n_raters, n_items): entry [r, i] is the value
rater r gave item i, and np.nan where r did not rate i. Values are category codes 0..q-1 for
nominal single-label data, or the numbers of a rating scale. Every statistic takes the matrix
with the *declared* domain of values (``np.arange(q)`` for codes, the scale from rating_min to
rating_max for ratings), so that categories nobody used still count where the statistic depends
on them (Gwet's q, kappa weights).

Multi-label annotations are a boolean array ``chosen`` of shape (n_raters, n_items, n_labels) with
a boolean mask ``present`` of shape (n_raters, n_items) saying which (rater, item) pairs exist (an
annotation may choose no label at all).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Estimate:
    """A statistic and what it rests on.

    ``n_items`` counts the items that entered the computation, ``n_raters`` the raters with at
    least one value in them, ``n_pairable`` the values in them (Krippendorff's n). ``value`` is
    nan when the statistic is undefined, and ``reason`` then says why.
    """

    value: float
    n_items: int
    n_raters: int
    n_pairable: int
    reason: str = ""

    @property
    def defined(self) -> bool:
        return not math.isnan(self.value)


@dataclass(frozen=True)
class RaterPairs:
    """One row per pair of raters (rater_a < rater_b) and the items both rated."""

    rater_a: IntArray
    rater_b: IntArray
    n_items: IntArray
    value: FloatArray


@dataclass(frozen=True)
class LabelSets:
    """Multi-label annotations: ``chosen[r, i, l]`` is True when rater r chose label l on item i,
    ``present[r, i]`` when rater r annotated item i at all (possibly choosing nothing)."""

    chosen: BoolArray
    present: BoolArray

    def __post_init__(self) -> None:
        if self.chosen.dtype != np.bool_ or self.present.dtype != np.bool_:
            raise ValueError("chosen and present must be boolean arrays")
        if self.chosen.ndim != 3 or self.present.shape != self.chosen.shape[:2]:
            raise ValueError(
                "chosen must be (n_raters, n_items, n_labels), present (n_raters, n_items)"
            )
        if (self.chosen & ~self.present[:, :, np.newaxis]).any():
            raise ValueError("a label is chosen on a (rater, item) pair that has no annotation")


def reliability_matrix(
    items: ArrayLike, raters: ArrayLike, values: ArrayLike, *, n_items: int, n_raters: int
) -> FloatArray:
    """Build the (n_raters, n_items) reliability matrix from long-form (item, rater, value) rows.

    ``items`` and ``raters`` are 0-based indices (the caller maps database ids to them); pairs
    not given stay np.nan. A (rater, item) pair given twice is an error, not a silent overwrite.
    """
    item_index = np.asarray(items, dtype=np.int64)
    rater_index = np.asarray(raters, dtype=np.int64)
    value_array = np.asarray(values, dtype=np.float64)
    if not item_index.shape == rater_index.shape == value_array.shape or item_index.ndim != 1:
        raise ValueError("items, raters and values must be 1-d arrays of the same length")
    _check_range(item_index, n_items, "item")
    _check_range(rater_index, n_raters, "rater")
    if np.isnan(value_array).any():
        raise ValueError("a value is nan; leave missing ratings out instead")
    _check_unique_pairs(rater_index, item_index, n_items)
    matrix = np.full((n_raters, n_items), np.nan)
    matrix[rater_index, item_index] = value_array
    return matrix


def label_sets(
    annotations: tuple[ArrayLike, ArrayLike],
    choices: tuple[ArrayLike, ArrayLike, ArrayLike],
    *,
    n_items: int,
    n_raters: int,
    n_labels: int,
) -> LabelSets:
    """Build ``LabelSets`` from long-form rows: ``annotations`` = (items, raters) of every
    annotation, ``choices`` = (items, raters, labels) of every chosen label, all 0-based."""
    ann_items, ann_raters = (np.asarray(a, dtype=np.int64) for a in annotations)
    ch_items, ch_raters, ch_labels = (np.asarray(a, dtype=np.int64) for a in choices)
    _check_range(ann_items, n_items, "item")
    _check_range(ann_raters, n_raters, "rater")
    _check_range(ch_items, n_items, "item")
    _check_range(ch_raters, n_raters, "rater")
    _check_range(ch_labels, n_labels, "label")
    _check_unique_pairs(ann_raters, ann_items, n_items)
    present = np.zeros((n_raters, n_items), dtype=bool)
    present[ann_raters, ann_items] = True
    chosen = np.zeros((n_raters, n_items, n_labels), dtype=bool)
    chosen[ch_raters, ch_items, ch_labels] = True
    return LabelSets(chosen=chosen, present=present)


def as_domain(domain: ArrayLike | None, matrix: FloatArray) -> FloatArray:
    """The declared values, sorted and unique; the values seen in ``matrix`` when None."""
    if domain is None:
        return np.unique(matrix[~np.isnan(matrix)])
    values = np.asarray(domain, dtype=np.float64)
    if values.ndim != 1 or np.isnan(values).any() or (np.diff(values) <= 0).any():
        raise ValueError("domain must be a 1-d array of increasing values")
    return values


def long_form(matrix: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
    """(items, raters, values) of the ratings present, ordered by item, then rater."""
    item_index, rater_index = np.nonzero(~np.isnan(matrix.T))
    return (
        item_index.astype(np.int64),
        rater_index.astype(np.int64),
        matrix[rater_index, item_index],
    )


def value_index(values: FloatArray, domain: FloatArray) -> IntArray:
    """Position of each value in ``domain``; a value outside the domain is an error."""
    index = np.searchsorted(domain, values)
    inside = index < len(domain)
    inside[inside] = domain[index[inside]] == values[inside]
    if not inside.all():
        raise ValueError(f"value {values[~inside][0]!r} is not in the declared domain")
    return index.astype(np.int64)


def value_counts(matrix: FloatArray, domain: FloatArray) -> IntArray:
    """(n_items, V) counts: how many raters gave item i the value domain[v]."""
    return tally(matrix, domain).counts


@dataclass(frozen=True)
class Tally:
    """What most statistics start from: ``counts[i, v]`` raters gave item i the value domain[v];
    ``pairable`` marks the items with two or more values; ``n_raters`` counts the raters with
    a value on a pairable item."""

    counts: IntArray
    pairable: BoolArray
    n_raters: int

    # Cached: each statistic reads them, and on a large project each is a pass over the items.
    @cached_property
    def n_items(self) -> int:
        return int(self.pairable.sum())

    @cached_property
    def n_pairable(self) -> int:
        return int(self.counts.sum(axis=1) @ self.pairable)


def tally(matrix: FloatArray, domain: FloatArray) -> Tally:
    """One pass over the ratings of a reliability matrix; see ``Tally``."""
    items, raters, values = long_form(matrix)
    size = len(domain)
    flat = items * size + value_index(values, domain)
    counts = np.bincount(flat, minlength=matrix.shape[1] * size).reshape(matrix.shape[1], size)
    pairable = counts.sum(axis=1) >= 2
    on_pairable = np.bincount(raters[pairable[items]], minlength=matrix.shape[0])
    return Tally(counts.astype(np.int64), pairable, int(np.count_nonzero(on_pairable)))


def within_item_pairs(items: IntArray) -> tuple[IntArray, IntArray]:
    """Positions (a, b), a < b, of every pair of rows of the same item, for rows sorted by item.

    One pass per offset (at most the largest number of ratings on an item), not per item.
    """
    firsts: list[IntArray] = []
    seconds: list[IntArray] = []
    for offset in range(1, len(items)):
        same = np.nonzero(items[:-offset] == items[offset:])[0]
        if len(same) == 0:
            break
        firsts.append(same)
        seconds.append(same + offset)
    if not firsts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(firsts).astype(np.int64), np.concatenate(seconds).astype(np.int64)


def group_rows(rows: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """Distinct rows of a non-negative integer array: (distinct, index of each row, multiplicity).

    Rows are packed into one integer key when they fit (a mixed-radix number), which is much
    faster than ``np.unique(axis=0)``; otherwise that is the fallback.
    """
    if rows.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return rows.copy(), empty, empty
    if rows.shape[1] == 0:
        return rows[:1], np.zeros(rows.shape[0], dtype=np.int64), np.array([rows.shape[0]])
    base = int(rows.max()) + 1
    if rows.shape[1] * math.log2(base) < 62:
        radix = base ** np.arange(rows.shape[1], dtype=np.int64)
        keys, inverse, counts = distinct_keys(rows @ radix, base ** rows.shape[1])
        return (keys[:, np.newaxis] // radix) % base, inverse, counts
    distinct, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return distinct, inverse.reshape(-1).astype(np.int64), counts.astype(np.int64)


def distinct_keys(keys: IntArray, key_space: int) -> tuple[IntArray, IntArray, IntArray]:
    """Distinct non-negative integer keys below ``key_space``: (sorted distinct keys, index of
    each key among them, multiplicity). Counts in an array over the key space when it is small
    enough, which is several times faster than sorting; sorts (``np.unique``) otherwise."""
    if key_space <= max(4 * len(keys), 1 << 20):
        counts = np.bincount(keys, minlength=key_space)
        present = np.flatnonzero(counts)
        position = np.zeros(key_space, dtype=np.int64)
        position[present] = np.arange(len(present))
        return present.astype(np.int64), position[keys], counts[present].astype(np.int64)
    distinct, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return distinct.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)


def _check_range(index: IntArray, size: int, name: str) -> None:
    if len(index) and (index.min() < 0 or index.max() >= size):
        raise ValueError(f"a {name} index is outside 0..{size - 1}")


def _check_unique_pairs(raters: IntArray, items: IntArray, n_items: int) -> None:
    keys = np.sort(raters * n_items + items)
    repeated = np.nonzero(keys[1:] == keys[:-1])[0]
    if len(repeated):
        rater, item = divmod(int(keys[repeated[0]]), n_items)
        raise ValueError(f"rater {rater} rated item {item} twice")
