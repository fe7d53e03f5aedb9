"""Weighted majority vote with weights from each rater's accuracy on gold items."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agreement.aggregation.result import AggregationResult, FloatArray, check_long_form, decide

DEFAULT_PRIOR_ACCURACY = 0.7
"""Accuracy assumed for a rater with no gold answers yet (the mean of the Beta prior)."""

DEFAULT_PRIOR_STRENGTH = 2.0
"""How many gold answers the prior is worth (a + b of the Beta prior)."""


def gold_accuracy(
    gold_correct: npt.ArrayLike,
    gold_total: npt.ArrayLike,
    *,
    prior_accuracy: float = DEFAULT_PRIOR_ACCURACY,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
) -> FloatArray:
    """Each rater's accuracy on gold items, smoothed by a Beta(a, b) prior.

    The posterior mean (correct + a) / (total + a + b), with a = prior_accuracy * prior_strength
    and b = (1 - prior_accuracy) * prior_strength: a rater with no gold answers gets
    prior_accuracy, one with many gets close to their observed rate, and none gets exactly 0 or 1
    (whose log-odds would be infinite).
    """
    if not 0 < prior_accuracy < 1:
        raise ValueError(f"prior_accuracy must lie strictly between 0 and 1, got {prior_accuracy}")
    if not prior_strength > 0:
        raise ValueError(f"prior_strength must be positive, got {prior_strength}")
    correct = np.asarray(gold_correct, dtype=np.float64)
    total = np.asarray(gold_total, dtype=np.float64)
    if correct.shape != total.shape or np.any(correct < 0) or np.any(correct > total):
        raise ValueError("gold_correct and gold_total must have one shape, 0 <= correct <= total")
    a = prior_accuracy * prior_strength
    accuracy: FloatArray = (correct + a) / (total + prior_strength)
    return accuracy


def optimal_weights(accuracy: npt.ArrayLike, q: int) -> FloatArray:
    """Vote weights w_r = log(q - 1) + log(p_r / (1 - p_r)) for raters of accuracy p_r.

    The weights of the optimal weighted majority rule under the symmetric-noise model (a rater
    is right with probability p_r and otherwise gives each wrong label with probability
    (1 - p_r) / (q - 1)), uniform prior over the q classes: Nitzan & Paroush, "Optimal Decision
    Rules in Uncertain Dichotomous Choice Situations", International Economic Review 23(2), 1982
    (two classes, where log(q - 1) = 0); Li & Yu, "Error Rate Bounds and Iterative Weighted
    Majority Voting for Crowdsourcing", arXiv:1411.4086, 2014 (the oracle MAP rule of the
    one-coin Dawid-Skene model, for q classes). A rater at chance
    (p_r = 1/q) weighs 0, one below chance weighs less than 0: their vote counts against their
    label, as the model says it should.
    """
    p = np.asarray(accuracy, dtype=np.float64)
    if np.any(p <= 0) or np.any(p >= 1):
        raise ValueError("accuracies must lie strictly between 0 and 1")
    if q < 2:
        raise ValueError(f"q must be at least 2, got {q}")
    return np.log(q - 1) + np.log(p) - np.log1p(-p)


def weighted_vote(
    item_idx: npt.ArrayLike,
    rater_idx: npt.ArrayLike,
    label_codes: npt.ArrayLike,
    *,
    n_items: int,
    n_raters: int,
    q: int,
    gold_correct: npt.ArrayLike,
    gold_total: npt.ArrayLike,
    prior_accuracy: float = DEFAULT_PRIOR_ACCURACY,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
) -> AggregationResult:
    """Vote of each item weighted by each rater's gold-accuracy log-odds (`optimal_weights`).

    `gold_correct` and `gold_total` (n_raters each) count each rater's right answers and all
    answers on gold items; `gold_accuracy` smooths them. The score of label c on item i is
    s_ic = sum of w_r over the annotations of i that gave c, and under the symmetric-noise model
    with a uniform class prior the posterior is its softmax,

        P(true label of i = c | its votes) = exp(s_ic) / sum_c' exp(s_ic'),

    since each annotation's likelihood is p_r for the label it gave and (1 - p_r) / (q - 1) for
    every other, and the factors common to all c cancel. That posterior is `distribution` and
    the top one the confidence; equal top scores are a tie (label -1). An item with no
    annotations has label -1, confidence 0.0 and the uniform distribution. `rater_weights` holds
    w_r.
    """
    items, raters, labels = check_long_form(
        item_idx, rater_idx, label_codes, n_items=n_items, n_raters=n_raters, q=q
    )
    accuracy = gold_accuracy(
        gold_correct, gold_total, prior_accuracy=prior_accuracy, prior_strength=prior_strength
    )
    if accuracy.shape != (n_raters,):
        raise ValueError(f"gold_correct and gold_total must have n_raters ({n_raters}) entries")
    weights = optimal_weights(accuracy, q)
    scores = (
        np.bincount(items * q + labels, weights=np.take(weights, raters), minlength=n_items * q)
        .astype(np.float64, copy=False)
        .reshape(n_items, q)
    )
    if n_items:
        scores -= scores.max(axis=1, keepdims=True)
    posterior = np.exp(scores)
    posterior /= posterior.sum(axis=1, keepdims=True)
    n_ratings = np.bincount(items, minlength=n_items).astype(np.intp)
    label, confidence, tie = decide(posterior, n_ratings)
    return AggregationResult(
        method="weighted",
        label=label,
        confidence=confidence,
        tie=tie,
        distribution=posterior,
        n_ratings=n_ratings,
        rater_weights=weights,
    )
