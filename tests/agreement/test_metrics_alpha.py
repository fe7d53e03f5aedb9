"""Krippendorff's alpha: the published example, the `krippendorff` package on random data, and
the cases where alpha is undefined."""

import krippendorff
import numpy as np
import pytest

from agreement.metrics.alpha import (
    LEVELS,
    alpha_with_distance,
    coincidences,
    krippendorff_alpha,
)
from agreement.metrics.data import long_form, value_index

NAN = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": the example of 4 observers x
# 12 units on a 1..5 scale with missing values (irrCAC's `cac.raw4raters` has the same values).
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_worked_example(level, published):
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with
    missing data: nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797. The same
    figures are in the docstring of the `krippendorff` package (citing p. 8 of the paper) and,
    for nominal and interval (quadratic weights), in irrCAC's documentation (0.74342, 0.84911)."""
    result = krippendorff_alpha(KRIPPENDORFF_2011, domain=[1, 2, 3, 4, 5], level=level)

    assert round(result.alpha.value, 3) == published
    # Unit 12 has one value: it cannot be paired and is left out.
    assert (result.alpha.n_items, result.alpha.n_raters, result.alpha.n_pairable) == (11, 4, 40)


def test_coincidence_marginals_are_the_pairable_values_of_each_value():
    """Each pairable value counts once in the coincidence matrix (Krippendorff 2011):
    in the 2011 example the 40 pairable values are nine 1s, thirteen 2s, ten 3s, five 4s and
    three 5s (counted from the data above, unit 12 left out)."""
    counts = np.stack(
        [
            np.bincount(value_index(unit[~np.isnan(unit)], np.arange(1.0, 6.0)), minlength=5)
            for unit in KRIPPENDORFF_2011.T
        ]
    )
    o = coincidences(counts)

    np.testing.assert_allclose(o.sum(axis=1), [9, 13, 10, 5, 3])
    np.testing.assert_allclose(o, o.T)
    # o_11: unit 1 (three 1s) adds 3 * 2 / 2 = 3, unit 8 (1, 1, 2, 1) adds 3 * 2 / 3 = 2 and
    # unit 11 (1, 1) adds 2; no other unit has two 1s.
    assert o[0, 0] == pytest.approx(7.0)


def test_ordinal_alpha_is_the_same_over_the_declared_scale_and_over_the_values_seen():
    """An unused rank has n_g = 0 and adds nothing to the ordinal distances."""
    seen = krippendorff_alpha(KRIPPENDORFF_2011, level="ordinal").alpha.value
    declared = krippendorff_alpha(KRIPPENDORFF_2011, domain=range(0, 11), level="ordinal")

    assert declared.alpha.value == pytest.approx(seen, abs=1e-12)


def _random_matrix(rng, n_raters, n_items, n_values, missing):
    matrix = rng.integers(0, n_values, size=(n_raters, n_items)).astype(float)
    # Agreement above chance: half the ratings copy the first rater's value where it exists.
    copies = rng.random((n_raters, n_items)) < 0.5
    matrix = np.where(copies, matrix[0], matrix)
    matrix[rng.random((n_raters, n_items)) < missing] = np.nan
    return matrix


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("n_raters", "n_items", "n_values", "missing"),
    [(2, 40, 3, 0.0), (3, 200, 5, 0.3), (7, 120, 4, 0.6), (12, 60, 9, 0.5)],
)
def test_alpha_matches_the_krippendorff_package_on_random_data(
    level, n_raters, n_items, n_values, missing
):
    rng = np.random.default_rng(n_raters * 1000 + n_items)
    matrix = _random_matrix(rng, n_raters, n_items, n_values, missing) + 1.0
    domain = np.arange(1.0, n_values + 1.0)

    ours = krippendorff_alpha(matrix, domain=domain, level=level).alpha.value
    theirs = krippendorff.alpha(
        reliability_data=matrix, value_domain=domain, level_of_measurement=level
    )

    assert ours == pytest.approx(theirs, abs=1e-10)


def test_alpha_with_the_nominal_distance_equals_nominal_alpha():
    matrix = _random_matrix(np.random.default_rng(5), 4, 150, 4, 0.4)
    items, _, values = long_form(matrix)

    generic = alpha_with_distance(items, values.astype(np.int64), 1.0 - np.eye(4), n_raters=4)

    assert generic.alpha.value == pytest.approx(
        krippendorff_alpha(matrix, domain=np.arange(4)).alpha.value, abs=1e-12
    )


def test_alpha_is_one_for_perfect_agreement_with_variation():
    matrix = np.array([[0, 1, 2, np.nan], [0, 1, 2, 1], [np.nan, 1, 2, 1]])

    assert krippendorff_alpha(matrix, domain=[0, 1, 2]).alpha.value == 1.0


@pytest.mark.parametrize(
    ("matrix", "reason"),
    [
        (np.zeros((2, 0)), "no item has two or more ratings"),
        (np.array([[1.0, 2.0, 0.0]]), "no item has two or more ratings"),
        (np.array([[1.0, np.nan], [np.nan, 2.0]]), "no item has two or more ratings"),
        (np.array([[1.0, 1.0, 1.0], [1.0, 1.0, np.nan]]), "no variation"),
    ],
    ids=["empty", "one rater", "one rating per item", "one category only"],
)
@pytest.mark.parametrize("level", LEVELS)
def test_undefined_alpha_is_nan_with_a_reason(matrix, reason, level):
    result = krippendorff_alpha(matrix, domain=[0, 1, 2], level=level)

    assert np.isnan(result.alpha.value)
    assert not result.alpha.defined
    assert reason in result.alpha.reason


def test_an_item_with_one_rating_is_left_out():
    with_single = np.array([[0, 1, 2, 2], [0, 1, 1, np.nan]])

    result = krippendorff_alpha(with_single, domain=[0, 1, 2])

    assert result.alpha.n_items == 3
    assert result.alpha.value == pytest.approx(
        krippendorff_alpha(with_single[:, :3], domain=[0, 1, 2]).alpha.value
    )


def test_unknown_level_is_an_error():
    with pytest.raises(ValueError, match="level of measurement"):
        krippendorff_alpha(KRIPPENDORFF_2011, level="circular")  # type: ignore[arg-type]
