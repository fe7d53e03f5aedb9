"""The input shapes of the agreement statistics: the reliability matrix built from long-form rows
as the service streams them, label sets, and the shared tallies."""

import numpy as np
import pytest

from agreement.metrics.data import (
    LabelSets,
    as_domain,
    distinct_keys,
    group_rows,
    label_sets,
    long_form,
    reliability_matrix,
    tally,
    within_item_pairs,
)


def test_reliability_matrix_places_each_value_and_leaves_the_rest_missing():
    matrix = reliability_matrix([0, 2, 2, 1], [1, 0, 1, 1], [3, 1, 2, 0], n_items=4, n_raters=2)

    np.testing.assert_array_equal(matrix, [[np.nan, np.nan, 1.0, np.nan], [3.0, 0.0, 2.0, np.nan]])


def test_reliability_matrix_refuses_a_rater_rating_an_item_twice():
    with pytest.raises(ValueError, match="rater 1 rated item 2 twice"):
        reliability_matrix([2, 0, 2], [1, 1, 1], [0, 1, 1], n_items=3, n_raters=2)


@pytest.mark.parametrize(
    ("items", "raters", "message"),
    [([0, 3], [0, 0], "item index"), ([0, 1], [0, -1], "rater index")],
)
def test_reliability_matrix_refuses_indices_out_of_range(items, raters, message):
    with pytest.raises(ValueError, match=message):
        reliability_matrix(items, raters, [1, 1], n_items=3, n_raters=2)


def test_reliability_matrix_refuses_a_nan_value():
    with pytest.raises(ValueError, match="nan"):
        reliability_matrix([0], [0], [np.nan], n_items=1, n_raters=1)


def test_an_empty_project_gives_an_all_missing_matrix():
    matrix = reliability_matrix([], [], [], n_items=3, n_raters=2)

    assert matrix.shape == (2, 3)
    assert np.isnan(matrix).all()


def test_label_sets_keep_an_annotation_that_chose_nothing():
    sets = label_sets(
        ([0, 0, 1], [0, 1, 0]), ([0, 0], [0, 0], [1, 2]), n_items=2, n_raters=2, n_labels=3
    )

    assert sets.present.tolist() == [[True, True], [True, False]]
    assert sets.chosen[0, 0].tolist() == [False, True, True]
    assert not sets.chosen[1, 0].any()


def test_label_sets_refuse_a_label_without_its_annotation():
    with pytest.raises(ValueError, match="no annotation"):
        LabelSets(chosen=np.ones((1, 1, 2), dtype=bool), present=np.zeros((1, 1), dtype=bool))


def test_label_sets_must_be_boolean():
    with pytest.raises(ValueError, match="boolean"):
        LabelSets(chosen=np.ones((1, 1, 2), dtype=int), present=np.ones((1, 1), dtype=bool))


def test_tally_counts_values_per_item_over_the_declared_domain():
    matrix = np.array([[0, 1, np.nan, 2], [0, np.nan, np.nan, 2], [1, np.nan, 3, np.nan]])

    counts = tally(matrix, np.arange(5.0))

    assert counts.counts.tolist() == [
        [2, 1, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 2, 0, 0],
    ]
    assert counts.pairable.tolist() == [True, False, False, True]
    assert (counts.n_items, counts.n_pairable, counts.n_raters) == (2, 5, 3)


def test_a_value_outside_the_declared_domain_is_an_error():
    with pytest.raises(ValueError, match="not in the declared domain"):
        tally(np.array([[1.0, 7.0]]), np.arange(1.0, 6.0))


def test_domain_defaults_to_the_values_seen_and_must_increase():
    assert as_domain(None, np.array([[3.0, np.nan, 1.0]])).tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="increasing"):
        as_domain([2, 1], np.zeros((1, 1)))


def test_long_form_orders_ratings_by_item_then_rater():
    items, raters, values = long_form(np.array([[np.nan, 5.0], [7.0, 6.0]]))

    assert (items.tolist(), raters.tolist(), values.tolist()) == ([0, 1, 1], [1, 0, 1], [7, 5, 6])


def test_within_item_pairs_lists_every_pair_once():
    first, second = within_item_pairs(np.array([0, 0, 0, 1, 2, 2]))

    pairs = sorted(zip(first.tolist(), second.tolist(), strict=True))
    assert pairs == [(0, 1), (0, 2), (1, 2), (4, 5)]


def test_group_rows_finds_identical_rows_and_their_multiplicity():
    rows = np.array([[2, 0], [0, 2], [2, 0], [1, 1], [2, 0]])

    distinct, index, sizes = group_rows(rows)

    np.testing.assert_array_equal(distinct[index], rows)
    assert dict(zip(map(tuple, distinct.tolist()), sizes.tolist(), strict=True)) == {
        (2, 0): 3,
        (0, 2): 1,
        (1, 1): 1,
    }


def test_group_rows_falls_back_for_rows_too_wide_to_pack():
    rows = np.random.default_rng(1).integers(0, 200, size=(50, 12))
    rows[10] = rows[3]

    distinct, index, sizes = group_rows(rows)

    np.testing.assert_array_equal(distinct[index], rows)
    assert len(distinct) == 49 and sizes.max() == 2


@pytest.mark.parametrize("key_space", [50, 10**12], ids=["counted", "sorted"])
def test_distinct_keys_by_counting_or_by_sorting(key_space):
    keys = np.array([7, 3, 7, 42, 3, 7])

    distinct, index, sizes = distinct_keys(keys, key_space)

    assert distinct.tolist() == [3, 7, 42]
    assert index.tolist() == [1, 0, 1, 2, 0, 1]
    assert sizes.tolist() == [2, 3, 1]
