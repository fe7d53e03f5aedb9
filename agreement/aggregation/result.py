"""The result every label model returns, and the checks and decisions they share.

Every model takes the annotations in long form: three int arrays of equal length, one entry per
annotation (item index in 0..n_items-1, rater index in 0..n_raters-1, label code in 0..q-1).
A multi-label project calls a model once per label with codes 0 (absent) and 1 (present).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

NO_LABEL = -1
"""The label of an item with no consensus: it has no ratings, or its top labels tie."""

TIE_TOLERANCE = 1e-9
"""Two probabilities closer than this are a tie: floating-point noise must not pick a winner."""


@dataclass(frozen=True, eq=False)
class AggregationResult:
    """One label model's verdict on every item (arrays indexed by item, n_items long).

    - `label`: the chosen label code, or `NO_LABEL` (-1) when the item has no ratings or its top
      labels tie. A tie is never settled silently in favour of the lowest code.
    - `confidence`: the share (majority vote) or posterior probability (the other models) of the
      top label; on a tie, the value the tied labels share; 0.0 for an item with no ratings.
    - `tie`: True when two or more labels share the top share or posterior.
    - `distribution`: n_items x q, each row the vote shares (a row of zeros for an item with no
      ratings) or the posterior over the true label (the class priors for an item with none).
    - `n_ratings`: how many annotations each item has.

    Dawid-Skene also fills `confusion` (n_raters x q x q, row = true class, column = label given,
    each row sums to 1), `priors` (q), `iterations`, `converged` and `log_likelihood` (of the data
    under the final parameters). The weighted vote fills `rater_weights` (n_raters).
    """

    method: str
    label: IntArray
    confidence: FloatArray
    tie: BoolArray
    distribution: FloatArray
    n_ratings: IntArray
    confusion: FloatArray | None = None
    priors: FloatArray | None = None
    iterations: int | None = None
    converged: bool | None = None
    log_likelihood: float | None = None
    rater_weights: FloatArray | None = None

    @property
    def n_items(self) -> int:
        return int(self.label.shape[0])


def check_long_form(
    item_idx: npt.ArrayLike,
    rater_idx: npt.ArrayLike,
    label_codes: npt.ArrayLike,
    *,
    n_items: int,
    n_raters: int,
    q: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """The three annotation arrays as intp arrays, after checking their lengths and ranges."""
    if q < 1:
        raise ValueError(f"q must be at least 1, got {q}")
    if n_items < 0 or n_raters < 0:
        raise ValueError("n_items and n_raters must not be negative")
    items = np.asarray(item_idx, dtype=np.intp)
    raters = np.asarray(rater_idx, dtype=np.intp)
    labels = np.asarray(label_codes, dtype=np.intp)
    if items.ndim != 1 or items.shape != raters.shape or items.shape != labels.shape:
        raise ValueError("item_idx, rater_idx and label_codes must be 1-d arrays of one length")
    if items.size:
        check_range(items, n_items, "item_idx")
        check_range(raters, n_raters, "rater_idx")
        check_range(labels, q, "label_codes")
    return items, raters, labels


def check_range(values: IntArray, bound: int, name: str) -> None:
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= bound:
        raise ValueError(f"{name} must lie in 0..{bound - 1}, found {low}..{high}")


def decide(distribution: FloatArray, n_ratings: IntArray) -> tuple[IntArray, FloatArray, BoolArray]:
    """Label, confidence and tie flag of each row of `distribution` (shares or posteriors).

    The top value is the confidence; a row whose second value is within `TIE_TOLERANCE` of it is
    a tie and gets `NO_LABEL`, as does a row of an item with no ratings (confidence 0.0).
    """
    n_items, q = distribution.shape
    rated = n_ratings > 0
    if q == 1:
        top = distribution[:, 0].copy()
        tie = np.zeros(n_items, dtype=np.bool_)
    else:
        two_best = np.partition(distribution, q - 2, axis=1)[:, q - 2 :]
        top = two_best[:, 1]
        tie = rated & (top - two_best[:, 0] <= TIE_TOLERANCE)
    label = np.argmax(distribution, axis=1).astype(np.intp)
    label[tie | ~rated] = NO_LABEL
    confidence = np.where(rated, top, 0.0)
    return label, confidence, tie
