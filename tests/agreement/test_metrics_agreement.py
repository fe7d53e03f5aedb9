"""Observed agreement (overall, per item, per category, per pair of raters) and each rater's
agreement with the others' majority."""

import numpy as np
import pytest

from agreement.metrics.agreement import observed_agreement, pairwise_agreement
from agreement.metrics.raters import consensus_agreement

NAN = np.nan


def test_per_item_agreement_is_the_share_of_agreeing_pairs():
    matrix = np.array(
        [
            [0, 0, 1, 2, 0],
            [0, 1, 1, NAN, NAN],
            [0, 2, 0, 2, NAN],
        ]
    )

    result = observed_agreement(matrix, domain=[0, 1, 2])

    # Item 0: all agree; item 1: all differ; item 2: one pair of three; item 3: two raters
    # agree; item 4: one rating, left out.
    np.testing.assert_allclose(result.per_item, [1, 0, 1 / 3, 1, NAN])
    assert result.overall.value == pytest.approx((1 + 0 + 1 / 3 + 1) / 4)
    assert (result.overall.n_items, result.overall.n_pairable, result.overall.n_raters) == (
        4,
        11,
        3,
    )


def test_specific_agreement_of_a_two_by_two_table_is_positive_and_negative_agreement():
    """For two raters, specific agreement on a category is 2a / (2a + b + c) (Fleiss 1975;
    Cicchetti & Feinstein 1990): with both "yes" on 20, both "no" on 15, and 5 + 10
    disagreements, positive agreement = 40 / 55 and negative agreement = 30 / 45."""
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    matrix = np.array(pairs, dtype=float).T

    result = observed_agreement(matrix, domain=[0, 1])

    np.testing.assert_allclose(result.per_category, [30 / 45, 40 / 55])
    assert result.overall.value == pytest.approx(0.7)


def test_specific_agreement_with_many_raters_counts_pairs_involving_the_category():
    # Item 0: 0, 0, 1 -> pairs involving 0: 0-0 (agree, twice ordered), 0-1 twice (from each 0).
    # Item 1: 1, 1 -> 1-1 agree twice. Category 0: 2 / (2 * 2) = 0.5; category 1: 2 / (2 + 2).
    matrix = np.array([[0, 1], [0, 1], [1, NAN]])

    result = observed_agreement(matrix, domain=[0, 1, 2])

    np.testing.assert_allclose(result.per_category, [0.5, 0.5, NAN])


def test_observed_agreement_is_undefined_without_an_item_of_two_ratings():
    result = observed_agreement(np.array([[0, NAN], [NAN, 1]]), domain=[0, 1])

    assert np.isnan(result.overall.value)
    assert "two or more" in result.overall.reason
    assert np.isnan(result.per_item).all()


def test_pairwise_agreement_uses_the_items_both_raters_rated():
    matrix = np.array(
        [
            [0, 1, 1, 0, NAN],
            [0, 1, 0, NAN, 1],
            [NAN, 1, 0, 0, 1],
        ]
    )

    table = pairwise_agreement(matrix)

    rows = list(
        zip(
            table.rater_a.tolist(),
            table.rater_b.tolist(),
            table.n_items.tolist(),
            table.value.tolist(),
            strict=True,
        )
    )
    assert rows == [(0, 1, 3, 2 / 3), (0, 2, 3, 2 / 3), (1, 2, 3, 1.0)]
    assert len(pairwise_agreement(matrix, min_items=4).value) == 0


def test_consensus_agreement_compares_each_rater_with_the_majority_of_the_others():
    matrix = np.array(
        [
            [0, 1, 2, 0, 1],
            [0, 1, 2, 1, NAN],
            [0, 0, 1, 2, NAN],
            [1, 0, NAN, NAN, NAN],
        ]
    )

    result = consensus_agreement(matrix, domain=[0, 1, 2])

    # Rater 0: item 0 others 0,0,1 -> 0 agree; item 1 others 1,0,0 -> 0 disagree; item 2
    # others 2,1 tie; item 3 others 1,2 tie; item 4 nobody else.
    # Rater 1: item 0 -> 0 agree; item 1 others 1,0,0 -> 0 disagree; item 2 others 2,1 tie;
    # item 3 others 0,2 tie. Rater 2: item 0 agree; item 1 others 1,1,0 -> 1 disagree; item 2
    # others 2,2 -> 2 disagree; item 3 others 0,1 tie. Rater 3: item 0 others 0,0,0 disagree;
    # item 1 others 1,1,0 -> 1 disagree.
    assert result.n_items.tolist() == [2, 2, 3, 2]
    assert result.n_agree.tolist() == [1, 1, 1, 0]
    assert result.n_ties.tolist() == [2, 2, 1, 0]
    np.testing.assert_allclose(result.agreement, [0.5, 0.5, 1 / 3, 0.0])


def test_consensus_agreement_is_nan_for_a_rater_with_nobody_to_compare_with():
    matrix = np.array([[0, 1, NAN], [NAN, NAN, 1], [NAN, NAN, NAN]])

    result = consensus_agreement(matrix, domain=[0, 1])

    assert result.n_items.tolist() == [0, 0, 0]
    assert np.isnan(result.agreement).all()


def test_consensus_agreement_on_random_data_matches_a_loop_over_ratings():
    rng = np.random.default_rng(11)
    matrix = rng.integers(0, 3, size=(6, 200)).astype(float)
    matrix[rng.random(matrix.shape) < 0.5] = NAN

    result = consensus_agreement(matrix, domain=[0, 1, 2])

    n_items, n_agree = np.zeros(6, int), np.zeros(6, int)
    for rater in range(6):
        for item in range(200):
            own = matrix[rater, item]
            others = np.delete(matrix[:, item], rater)
            others = others[~np.isnan(others)].astype(int)
            if np.isnan(own) or len(others) == 0:
                continue
            tally = np.bincount(others, minlength=3)
            if (tally == tally.max()).sum() > 1:
                continue
            n_items[rater] += 1
            n_agree[rater] += tally.argmax() == own
    assert result.n_items.tolist() == n_items.tolist()
    assert result.n_agree.tolist() == n_agree.tolist()
