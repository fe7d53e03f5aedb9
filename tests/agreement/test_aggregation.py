"""The label models on small hand-made cases and on simulated raters of known quality.

Raters are named where the case reads better for it: ann (index 0), ben (1) and cat (2).
Published data sets are in test_aggregation_published.py; the comparison with independent
implementations in test_aggregation_reference.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from agreement.aggregation.dawid_skene import (
    DEFAULT_SMOOTHING,
    dawid_skene,
    dawid_skene_posterior,
)
from agreement.aggregation.majority import majority_vote
from agreement.aggregation.result import NO_LABEL
from agreement.aggregation.weighted import gold_accuracy, optimal_weights, weighted_vote

ANN, BEN, CAT = 0, 1, 2


def simulate(
    confusion: np.ndarray, *, n_items: int, per_item: int, priors: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Annotations of `per_item` distinct raters per item, each drawn from their confusion row."""
    rng = np.random.default_rng(seed)
    n_raters, q, _ = confusion.shape
    truth = rng.choice(q, size=n_items, p=priors)
    items = np.repeat(np.arange(n_items), per_item)
    raters = np.argsort(rng.random((n_items, n_raters)), axis=1)[:, :per_item].ravel()
    rows = confusion[raters, truth[items]]
    labels = (rng.random(items.size)[:, None] > rows.cumsum(axis=1)).sum(axis=1)
    return items, raters, np.minimum(labels, q - 1), truth


def symmetric_confusion(accuracy: np.ndarray, q: int) -> np.ndarray:
    """Raters right with probability accuracy[r], otherwise any wrong label alike."""
    off = (1 - accuracy) / (q - 1)
    confusion = np.repeat(off[:, None, None], q, axis=1).repeat(q, axis=2)
    confusion[:, np.arange(q), np.arange(q)] = accuracy[:, None]
    return confusion


# --- majority vote ----------------------------------------------------------------------------


def test_majority_vote_gives_each_item_its_most_common_label_and_its_share():
    # item 0: ann, ben and cat say 2, 2, 0; item 1: all three say 1.
    result = majority_vote(
        [0, 0, 0, 1, 1, 1], [ANN, BEN, CAT] * 2, [2, 2, 0, 1, 1, 1], n_items=2, n_raters=3, q=3
    )
    assert result.method == "majority"
    assert result.label.tolist() == [2, 1]
    assert result.confidence == pytest.approx([2 / 3, 1.0])
    np.testing.assert_allclose(result.distribution, [[1 / 3, 0, 2 / 3], [0, 1, 0]])
    assert result.tie.tolist() == [False, False]
    assert result.n_ratings.tolist() == [3, 3]


def test_a_tie_is_explicit_and_never_the_lowest_label():
    # ann says 1, ben says 0: neither wins, whichever label code is lower.
    result = majority_vote([0, 0], [ANN, BEN], [1, 0], n_items=1, n_raters=2, q=2)
    assert result.tie.tolist() == [True]
    assert result.label.tolist() == [NO_LABEL]
    assert result.confidence == pytest.approx([0.5])
    np.testing.assert_allclose(result.distribution, [[0.5, 0.5]])


def test_a_tie_among_the_top_labels_only_is_still_a_tie():
    # 2-2-1 over five ratings: labels 0 and 2 tie at 0.4, label 1 trails.
    result = majority_vote([0] * 5, [0, 1, 2, 3, 4], [0, 0, 2, 2, 1], n_items=1, n_raters=5, q=3)
    assert result.tie.tolist() == [True]
    assert result.label.tolist() == [NO_LABEL]
    assert result.confidence == pytest.approx([0.4])


def test_items_with_no_ratings_have_no_label_and_zero_confidence():
    result = majority_vote([1, 1], [ANN, BEN], [0, 0], n_items=3, n_raters=2, q=2)
    assert result.label.tolist() == [NO_LABEL, 0, NO_LABEL]
    assert result.confidence.tolist() == [0.0, 1.0, 0.0]
    assert result.tie.tolist() == [False, False, False]
    assert result.n_ratings.tolist() == [0, 2, 0]
    np.testing.assert_array_equal(result.distribution[[0, 2]], np.zeros((2, 2)))


def test_a_project_with_no_annotations_yet():
    result = majority_vote([], [], [], n_items=2, n_raters=3, q=4)
    assert result.label.tolist() == [NO_LABEL, NO_LABEL]
    assert result.distribution.shape == (2, 4)


def test_multi_label_is_one_binary_vote_per_label():
    # Labels "cat" and "dog" on one item: ann ticks both, ben only "cat", cat neither.
    ticks = {"cat": [1, 1, 0], "dog": [1, 0, 0]}
    verdicts = {
        name: majority_vote([0, 0, 0], [ANN, BEN, CAT], codes, n_items=1, n_raters=3, q=2)
        for name, codes in ticks.items()
    }
    assert verdicts["cat"].label.tolist() == [1]
    assert verdicts["dog"].label.tolist() == [0]
    assert verdicts["dog"].confidence == pytest.approx([2 / 3])


@pytest.mark.parametrize(
    ("items", "raters", "labels", "message"),
    [
        ([0, 5], [0, 1], [0, 1], "item_idx"),
        ([0, 1], [0, 9], [0, 1], "rater_idx"),
        ([0, 1], [0, 1], [0, 3], "label_codes"),
        ([0, 1], [0, 1], [-1, 0], "label_codes"),
        ([0, 1], [0], [0, 1], "one length"),
    ],
)
def test_annotations_out_of_range_are_refused(items, raters, labels, message):
    with pytest.raises(ValueError, match=message):
        majority_vote(items, raters, labels, n_items=2, n_raters=2, q=2)
    with pytest.raises(ValueError, match=message):
        dawid_skene(items, raters, labels, n_items=2, n_raters=2, q=2)


# --- Dawid-Skene --------------------------------------------------------------------------------


def test_dawid_skene_recovers_known_confusion_matrices():
    # 12 raters over 3 classes, of mixed quality, two of them with a bias (they call class 0
    # "1" half the time) that majority vote cannot see; 4,000 items, 4 raters each.
    q = 3
    rng = np.random.default_rng(7)
    accuracy = rng.uniform(0.55, 0.95, size=12)
    truth_confusion = symmetric_confusion(accuracy, q)
    truth_confusion[[3, 8], 0] = [0.45, 0.5, 0.05]
    priors = np.array([0.5, 0.3, 0.2])
    items, raters, labels, truth = simulate(
        truth_confusion, n_items=4000, per_item=4, priors=priors, seed=11
    )

    result = dawid_skene(items, raters, labels, n_items=4000, n_raters=12, q=q)

    assert result.converged
    assert result.iterations is not None and result.iterations < 100
    assert result.confusion is not None and result.priors is not None
    np.testing.assert_allclose(result.confusion.sum(axis=2), 1.0)
    error = np.abs(result.confusion - truth_confusion)
    assert error.max() < 0.08, error.max()
    assert error.mean() < 0.02, error.mean()
    np.testing.assert_allclose(result.priors, priors, atol=0.03)
    # Rows are true classes: the two biased raters' row 0 is found split between labels 0 and 1.
    np.testing.assert_allclose(result.confusion[[3, 8], 0, :2], [[0.45, 0.5]] * 2, atol=0.06)
    assert (result.label == truth).mean() > 0.9


def test_dawid_skene_beats_majority_vote_when_raters_differ_in_quality():
    # Two careful raters (95%) and six careless ones (40%, over 4 classes): the careless often
    # agree with each other by chance and outvote the careful on majority; DS learns whom to trust.
    q = 4
    accuracy = np.array([0.95, 0.95, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4])
    items, raters, labels, truth = simulate(
        symmetric_confusion(accuracy, q),
        n_items=3000,
        per_item=5,
        priors=np.full(q, 1 / q),
        seed=3,
    )
    args = (items, raters, labels)
    majority = majority_vote(*args, n_items=3000, n_raters=8, q=q)
    fitted = dawid_skene(*args, n_items=3000, n_raters=8, q=q)

    majority_accuracy = (majority.label == truth).mean()  # a tie counts as wrong
    fitted_accuracy = (fitted.label == truth).mean()
    assert fitted_accuracy > majority_accuracy + 0.05, (fitted_accuracy, majority_accuracy)
    assert fitted.confusion is not None
    found = fitted.confusion[:, np.arange(q), np.arange(q)].mean(axis=1)
    np.testing.assert_allclose(found, accuracy, atol=0.06)


def test_dawid_skene_reports_a_tie_it_cannot_break():
    # Two raters of the same record, the data symmetric under swapping labels 0 and 1: item 2
    # (ann 0, ben 1) and item 3 (ann 1, ben 0) start split and stay split.
    result = dawid_skene(
        [0, 0, 1, 1, 2, 2, 3, 3],
        [ANN, BEN] * 4,
        [0, 0, 1, 1, 0, 1, 1, 0],
        n_items=4,
        n_raters=2,
        q=2,
    )
    assert result.tie.tolist() == [False, False, True, True]
    assert result.label.tolist() == [0, 1, NO_LABEL, NO_LABEL]
    np.testing.assert_allclose(result.distribution[2:], 0.5)


def test_dawid_skene_items_and_raters_without_annotations():
    # Item 1 and rater cat have no annotations.
    result = dawid_skene(
        [0, 0, 2, 2, 3, 3],
        [ANN, BEN, ANN, BEN, ANN, BEN],
        [1, 1, 0, 0, 1, 1],
        n_items=4,
        n_raters=3,
        q=2,
    )
    assert result.label.tolist() == [1, NO_LABEL, 0, 1]
    assert result.confidence[1] == 0.0
    assert result.n_ratings.tolist() == [2, 0, 2, 2]
    assert result.priors is not None and result.confusion is not None
    np.testing.assert_allclose(result.distribution[1], result.priors)
    # Two items of class 1 and one of class 0 (with a little smoothing).
    assert result.priors[1] > result.priors[0]
    np.testing.assert_allclose(result.confusion[CAT], 0.5)


def test_dawid_skene_with_no_annotations_at_all():
    result = dawid_skene([], [], [], n_items=2, n_raters=1, q=3)
    assert result.label.tolist() == [NO_LABEL, NO_LABEL]
    assert result.converged
    np.testing.assert_allclose(result.priors, 1 / 3)


@pytest.mark.parametrize("max_iter", [1, 2, 5, 6])
@pytest.mark.parametrize("accelerate", [True, False])
def test_dawid_skene_stops_at_max_iter_and_says_it_did_not_converge(max_iter, accelerate):
    items, raters, labels, _ = simulate(
        symmetric_confusion(np.array([0.9, 0.6, 0.7, 0.5]), 3),
        n_items=300,
        per_item=3,
        priors=np.full(3, 1 / 3),
        seed=5,
    )
    result = dawid_skene(
        items,
        raters,
        labels,
        n_items=300,
        n_raters=4,
        q=3,
        max_iter=max_iter,
        accelerate=accelerate,
    )
    assert result.iterations == max_iter
    assert result.converged is False
    # Whenever it stops, the posteriors are those of the parameters it returns.
    assert result.confusion is not None and result.priors is not None
    again = dawid_skene_posterior(items, raters, labels, result.confusion, result.priors)
    np.testing.assert_allclose(again.distribution, result.distribution, atol=1e-12)


def test_acceleration_gets_closer_to_the_fixed_point_in_fewer_passes():
    # 30 raters, 3 ratings an item, 4 classes: plain EM crawls here.
    rng = np.random.default_rng(4)
    confusion = rng.dirichlet(np.ones(4) * 0.5, size=(30, 4))
    confusion[:, np.arange(4), np.arange(4)] += rng.uniform(1, 4, size=(30, 1))
    confusion /= confusion.sum(axis=2, keepdims=True)
    items, raters, labels, _ = simulate(
        confusion, n_items=5000, per_item=3, priors=np.full(4, 0.25), seed=8
    )
    shape = {"n_items": 5000, "n_raters": 30, "q": 4}
    fixed_point = dawid_skene(
        items, raters, labels, **shape, accelerate=False, tol=1e-13, max_iter=5000
    )
    plain = dawid_skene(items, raters, labels, **shape, accelerate=False, max_iter=1000)
    accelerated = dawid_skene(items, raters, labels, **shape, max_iter=1000)

    assert fixed_point.converged and plain.converged and accelerated.converged
    assert accelerated.iterations is not None and plain.iterations is not None
    # Fewer passes (26 against 53 here), and closer to the fixed point (5e-7 against 5e-4).
    assert accelerated.iterations < plain.iterations * 0.75, (
        accelerated.iterations,
        plain.iterations,
    )
    accelerated_error = np.abs(accelerated.distribution - fixed_point.distribution).max()
    plain_error = np.abs(plain.distribution - fixed_point.distribution).max()
    assert accelerated_error < 1e-5
    assert accelerated_error < plain_error
    assert accelerated.label.tolist() == fixed_point.label.tolist()
    assert accelerated.log_likelihood == pytest.approx(fixed_point.log_likelihood, abs=1e-4)


def test_dawid_skene_refuses_a_smoothing_that_is_not_positive():
    with pytest.raises(ValueError, match="smoothing"):
        dawid_skene([0], [0], [0], n_items=1, n_raters=1, q=2, smoothing=0.0)


def test_the_log_likelihood_is_that_of_the_returned_parameters():
    items, raters, labels, _ = simulate(
        symmetric_confusion(np.array([0.9, 0.6, 0.7]), 2),
        n_items=50,
        per_item=3,
        priors=np.array([0.6, 0.4]),
        seed=9,
    )
    result = dawid_skene(items, raters, labels, n_items=50, n_raters=3, q=2)
    assert result.confusion is not None and result.priors is not None
    expected = 0.0
    for i in range(50):
        joint = result.priors.copy()
        for r, label in zip(raters[items == i], labels[items == i], strict=True):
            joint = joint * result.confusion[r, :, label]
        expected += math.log(joint.sum())
    assert result.log_likelihood == pytest.approx(expected, rel=1e-12)


# --- the posterior of a few items under a finished fit -------------------------------------------


def test_the_posterior_under_fixed_parameters_reproduces_the_fit():
    items, raters, labels, _ = simulate(
        symmetric_confusion(np.array([0.9, 0.55, 0.75, 0.65, 0.8]), 3),
        n_items=400,
        per_item=3,
        priors=np.array([0.5, 0.3, 0.2]),
        seed=21,
    )
    fitted = dawid_skene(items, raters, labels, n_items=400, n_raters=5, q=3)
    assert fitted.confusion is not None and fitted.priors is not None

    everything = dawid_skene_posterior(items, raters, labels, fitted.confusion, fitted.priors)
    np.testing.assert_allclose(everything.distribution, fitted.distribution, atol=1e-12)
    assert everything.label.tolist() == fitted.label.tolist()

    # One item alone, as the submit path passes it: its own annotations, item index 0.
    mine = items == 123
    alone = dawid_skene_posterior(
        np.zeros(mine.sum(), dtype=int),
        raters[mine],
        labels[mine],
        fitted.confusion,
        fitted.priors,
    )
    np.testing.assert_allclose(alone.distribution[0], fitted.distribution[123], atol=1e-12)
    assert alone.label[0] == fitted.label[123]
    assert alone.confidence[0] == pytest.approx(fitted.confidence[123])


def test_a_rater_unseen_by_the_fit_counts_as_the_average_rater():
    # ann (0.9) and ben (0.6) were fitted; dan (index 2) joined after the fit.
    confusion = symmetric_confusion(np.array([0.9, 0.6]), 2)
    priors = np.array([0.5, 0.5])
    dan = 2

    result = dawid_skene_posterior([0, 0], [BEN, dan], [1, 1], confusion, priors)

    average = confusion.mean(axis=0)  # right with probability 0.75
    expected = np.array([0.4 * average[0, 1], 0.6 * average[1, 1]])
    np.testing.assert_allclose(result.distribution[0], expected / expected.sum())
    assert result.label.tolist() == [1]


def test_an_unseen_rater_can_be_made_to_count_for_nothing():
    confusion = symmetric_confusion(np.array([0.9, 0.6]), 2)
    priors = np.array([0.7, 0.3])
    result = dawid_skene_posterior(
        [0], [5], [1], confusion, priors, unseen_confusion=np.full((2, 2), 0.5)
    )
    np.testing.assert_allclose(result.distribution[0], priors)


def test_the_posterior_of_several_items_and_of_an_unrated_one():
    confusion = symmetric_confusion(np.array([0.9, 0.6, 0.8]), 2)
    priors = np.array([0.5, 0.5])
    # item 0: ann and ben say 1; item 1: nobody; item 2: cat says 0.
    result = dawid_skene_posterior(
        [0, 0, 2], [ANN, BEN, CAT], [1, 1, 0], confusion, priors, n_items=3
    )
    assert result.label.tolist() == [1, NO_LABEL, 0]
    assert result.n_ratings.tolist() == [2, 0, 1]
    assert result.confidence[2] == pytest.approx(0.8)
    expected_0 = 0.9 * 0.6 / (0.9 * 0.6 + 0.1 * 0.4)
    assert result.confidence[0] == pytest.approx(expected_0)


def test_the_default_smoothing_is_documented_in_range():
    assert 0.01 <= DEFAULT_SMOOTHING <= 1


# --- weighted vote ------------------------------------------------------------------------------


def test_an_expert_outvotes_two_weak_raters_when_her_log_odds_are_larger():
    # Nitzan & Paroush's rule on two classes: ann is right 90% of the time (log-odds 2.20), ben
    # and cat 60% (0.41 each). ann alone against both: 2.20 > 0.81, ann decides.
    weights = optimal_weights([0.9, 0.6, 0.6], q=2)
    np.testing.assert_allclose(weights, [math.log(9), math.log(1.5), math.log(1.5)])

    result = weighted_vote(
        [0, 0, 0],
        [ANN, BEN, CAT],
        [1, 0, 0],
        n_items=1,
        n_raters=3,
        q=2,
        gold_correct=[9_000, 6_000, 6_000],
        gold_total=[10_000, 10_000, 10_000],
    )
    assert result.label.tolist() == [1]
    # The posterior of label 1: 0.9 * 0.4 * 0.4 against 0.1 * 0.6 * 0.6 (Bayes, uniform prior).
    assert result.confidence[0] == pytest.approx(0.144 / (0.144 + 0.036), abs=1e-3)


def test_three_weak_raters_together_outvote_one_expert():
    # ann at 80% (log-odds 1.39) against ben, cat and dan at 65% (0.62 each, 1.86 together).
    result = weighted_vote(
        [0, 0, 0, 0],
        [0, 1, 2, 3],
        [1, 0, 0, 0],
        n_items=1,
        n_raters=4,
        q=2,
        gold_correct=[8_000, 6_500, 6_500, 6_500],
        gold_total=[10_000] * 4,
    )
    assert result.label.tolist() == [0]


def test_equal_accuracies_make_the_weighted_vote_a_majority_vote():
    rng = np.random.default_rng(2)
    items = np.repeat(np.arange(200), 3)
    raters = np.tile([0, 1, 2], 200)
    labels = rng.integers(0, 3, size=600)
    args = (items, raters, labels)
    weighted = weighted_vote(
        *args, n_items=200, n_raters=3, q=3, gold_correct=[7, 7, 7], gold_total=[10, 10, 10]
    )
    majority = majority_vote(*args, n_items=200, n_raters=3, q=3)
    assert weighted.label.tolist() == majority.label.tolist()
    assert weighted.tie.tolist() == majority.tie.tolist()


def test_with_q_classes_a_rater_at_chance_weighs_nothing():
    # Over 4 classes chance is 1/4: log(3) + log((1/4) / (3/4)) = 0.
    np.testing.assert_allclose(optimal_weights([0.25], q=4), [0.0], atol=1e-12)
    # And the q - 1 term: at 50% over 4 classes a rater is far better than chance.
    assert optimal_weights([0.5], q=4)[0] == pytest.approx(math.log(3))


def test_the_weighted_posterior_is_bayes_under_symmetric_noise():
    # Three classes; ann (0.8) says 2, ben (0.5) says 0, cat (0.7) says 2.
    q = 3
    accuracy = gold_accuracy([80, 50, 70], [100, 100, 100])
    result = weighted_vote(
        [0, 0, 0],
        [ANN, BEN, CAT],
        [2, 0, 2],
        n_items=1,
        n_raters=3,
        q=q,
        gold_correct=[80, 50, 70],
        gold_total=[100, 100, 100],
    )
    given = [2, 0, 2]
    joint = np.ones(q)
    for c in range(q):
        for p, label in zip(accuracy, given, strict=True):
            joint[c] *= p if label == c else (1 - p) / (q - 1)
    np.testing.assert_allclose(result.distribution[0], joint / joint.sum())
    assert result.label.tolist() == [2]


def test_gold_accuracy_is_smoothed_toward_the_prior():
    accuracy = gold_accuracy([0, 10, 3], [0, 10, 3], prior_accuracy=0.7, prior_strength=2.0)
    # No gold yet: the prior. Ten of ten: (10 + 1.4) / 12, not 1 (whose log-odds are infinite).
    np.testing.assert_allclose(accuracy, [0.7, 11.4 / 12, 4.4 / 5])


def test_a_rater_without_gold_votes_with_the_prior_accuracy():
    result = weighted_vote(
        [0, 0],
        [ANN, BEN],
        [1, 0],
        n_items=1,
        n_raters=2,
        q=2,
        gold_correct=[0, 0],
        gold_total=[0, 0],
    )
    assert result.rater_weights is not None
    np.testing.assert_allclose(result.rater_weights, math.log(0.7 / 0.3))
    assert result.tie.tolist() == [True]
    assert result.label.tolist() == [NO_LABEL]


def test_weighted_vote_items_with_no_ratings():
    result = weighted_vote(
        [1], [ANN], [1], n_items=2, n_raters=1, q=2, gold_correct=[5], gold_total=[6]
    )
    assert result.label.tolist() == [NO_LABEL, 1]
    assert result.confidence[0] == 0.0
    np.testing.assert_allclose(result.distribution[0], [0.5, 0.5])
