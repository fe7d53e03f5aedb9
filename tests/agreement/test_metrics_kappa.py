"""Fleiss' kappa and Cohen's kappa: published examples, statsmodels and scikit-learn on random
data, and the degenerate cases."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from agreement.metrics.kappa import cohen_kappa_pairs, fleiss_kappa

NAN = np.nan

# Fleiss (1971), Table 1: 30 patients, each diagnosed by 6 psychiatrists into 1 depression,
# 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other. One row per patient, as in the
# R package irr's `diagnoses` data set (and statsmodels' test_inter_rater.py).
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ],
    dtype=float,
).T  # fmt: skip

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; row i gives
# how many raters put subject i in each category.
WIKIPEDIA_FLEISS = np.array(
    [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
)  # fmt: skip


def matrix_from_table(table: np.ndarray) -> np.ndarray:
    """A raters x items matrix whose item i has table[i, j] ratings of category j."""
    table = np.asarray(table)
    n_raters = table.sum(axis=1).max()
    matrix = np.full((n_raters, len(table)), NAN)
    for item, row in enumerate(table):
        ratings = np.repeat(np.arange(table.shape[1]), row)
        matrix[: len(ratings), item] = ratings
    return matrix


def test_fleiss_1971_psychiatric_diagnoses():
    """Fleiss (1971), Psychological Bulletin 76(5), 378-382: kappa = 0.430 for the 30 x 6 table,
    and per-category kappas 0.245, 0.245, 0.520, 0.471, 0.566 (depression, personality
    disorder, schizophrenia, neurosis, other); the R package irr's kappam.fleiss(diagnoses,
    detail = TRUE) prints the same figures."""
    result = fleiss_kappa(FLEISS_1971, domain=[1, 2, 3, 4, 5])

    assert round(result.kappa.value, 3) == 0.430
    assert np.round(result.per_category, 3).tolist() == [0.245, 0.245, 0.520, 0.471, 0.566]
    assert (result.kappa.n_items, result.kappa.n_raters, result.kappa.n_pairable) == (30, 6, 180)


def test_wikipedia_fleiss_worked_example():
    """Wikipedia, "Fleiss' kappa", worked example: P-bar = 0.378, P-bar_e = 0.213,
    kappa = 0.210, and the P_i column 1.000, 0.253, 0.308, 0.440, 0.330, 0.462, 0.242, 0.176,
    0.286, 0.286."""
    result = fleiss_kappa(matrix_from_table(WIKIPEDIA_FLEISS), domain=range(5))

    assert round(result.kappa.value, 3) == 0.210
    assert round(result.observed, 3) == 0.378
    assert round(result.expected, 3) == 0.213
    assert np.round(result.per_item, 3).tolist() == [
        1.0, 0.253, 0.308, 0.44, 0.33, 0.462, 0.242, 0.176, 0.286, 0.286
    ]  # fmt: skip


def test_fleiss_kappa_of_irrcacs_six_psychiatrists():
    """irrCAC README (Gwet): fleiss.kappa.dist(distrib.6raters), 15 of Fleiss' 1971 patients,
    gives kappa = 0.4139265 with pa = 0.5511111 and pe = 0.2340741."""
    table = np.array(
        [
            [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
            [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
            [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
        ]
    )  # fmt: skip

    result = fleiss_kappa(matrix_from_table(table), domain=range(5))

    assert round(result.kappa.value, 4) == 0.4139
    assert (round(result.observed, 4), round(result.expected, 4)) == (0.5511, 0.2341)


@pytest.mark.parametrize(
    ("n_items", "n_raters", "n_categories"), [(20, 2, 2), (100, 3, 5), (57, 9, 4), (300, 6, 7)]
)
def test_fleiss_matches_statsmodels_when_every_item_has_the_same_number_of_ratings(
    n_items, n_raters, n_categories
):
    rng = np.random.default_rng(n_items)
    probabilities = rng.dirichlet(np.ones(n_categories), size=n_items)
    table = np.array([rng.multinomial(n_raters, p) for p in probabilities])

    result = fleiss_kappa(matrix_from_table(table), domain=range(n_categories))

    assert result.kappa.value == pytest.approx(statsmodels_fleiss_kappa(table), abs=1e-12)


def test_per_category_kappa_equals_fleiss_1971_formula_with_equal_ratings_per_item():
    """kappa_j = 1 - sum_i n_ij (n - n_ij) / (N n (n - 1) p_j q_j), Fleiss (1971)."""
    rng = np.random.default_rng(3)
    table = np.array([rng.multinomial(5, p) for p in rng.dirichlet(np.ones(4), size=80)])
    n_items, n = len(table), 5
    p = table.sum(axis=0) / (n_items * n)
    expected = 1 - (table * (n - table)).sum(axis=0) / (n_items * n * (n - 1) * p * (1 - p))

    result = fleiss_kappa(matrix_from_table(table), domain=range(4))

    np.testing.assert_allclose(result.per_category, expected)


def test_fleiss_with_unequal_ratings_per_item():
    """Item 0: 0, 0, 1 (P_0 = 2/6); item 1: 1, 1 (P_1 = 1); item 2: a single 0, which counts
    in p_j only. P = 2/3, p = (1/2, 1/2), P_e = 1/2, kappa = (2/3 - 1/2) / (1/2) = 1/3."""
    matrix = np.array([[0, 1, 0], [0, 1, NAN], [1, NAN, NAN]])

    result = fleiss_kappa(matrix, domain=[0, 1])

    assert result.kappa.value == pytest.approx(1 / 3)
    assert result.observed == pytest.approx(2 / 3)
    np.testing.assert_allclose(result.proportions, [0.5, 0.5])
    assert np.isnan(result.per_item[2])
    assert (result.kappa.n_items, result.kappa.n_pairable, result.kappa.n_raters) == (2, 5, 3)


@pytest.mark.parametrize(
    ("matrix", "reason"),
    [
        (np.zeros((3, 0)), "no item has two or more ratings"),
        (np.array([[0.0, 1.0, 2.0]]), "no item has two or more ratings"),
        (np.array([[2.0, 2.0], [2.0, 2.0]]), "one category"),
    ],
    ids=["empty", "one rater", "one category only"],
)
def test_undefined_fleiss_kappa_is_nan_with_a_reason(matrix, reason):
    result = fleiss_kappa(matrix, domain=[0, 1, 2])

    assert np.isnan(result.kappa.value)
    assert reason in result.kappa.reason


def test_wikipedia_cohen_worked_example():
    """Wikipedia, "Cohen's kappa", example: 50 grant proposals, both readers yes on 20, both no
    on 15, A yes / B no on 5, A no / B yes on 10: p_o = 0.7, p_e = 0.5, kappa = 0.4."""
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    matrix = np.array(pairs, dtype=float).T

    table = cohen_kappa_pairs(matrix, domain=[0, 1])

    assert (table.rater_a.tolist(), table.rater_b.tolist(), table.n_items.tolist()) == (
        [0], [1], [50]
    )  # fmt: skip
    assert round(table.value[0], 3) == 0.4


def test_gwet_abstractors_table_unweighted_and_quadratic():
    """Gwet's `cont3x3abstractors` (irrCAC, from Gwet 2014): two abstractors classify 100
    pregnancies as ectopic, AIU or NIU; rows rater 1, columns rater 2: (13, 0, 0), (0, 20, 7),
    (0, 4, 56). irrCAC's documentation prints Cohen's kappa 0.7964094 (README,
    kappa2.table) and, with quadratic weights, 0.8921569 (weighting vignette)."""
    counts = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
    rows, cols = np.nonzero(counts)
    first = np.repeat(rows, counts[rows, cols])
    second = np.repeat(cols, counts[rows, cols])
    matrix = np.stack([first, second]).astype(float)

    plain = cohen_kappa_pairs(matrix, domain=[0, 1, 2])
    quadratic = cohen_kappa_pairs(matrix, domain=[0, 1, 2], weights="quadratic")

    assert round(plain.value[0], 3) == 0.796
    assert round(quadratic.value[0], 3) == 0.892


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize(("n_raters", "missing"), [(2, 0.0), (4, 0.3), (8, 0.6)])
def test_cohen_matches_scikit_learn_for_every_pair_over_the_declared_scale(
    weights, n_raters, missing
):
    """A 1..7 scale of which the raters use only 2..5: sklearn gets labels= the whole scale."""
    rng = np.random.default_rng(n_raters)
    truth = rng.integers(2, 6, size=150)
    noise = rng.integers(2, 6, size=(n_raters, 150))
    matrix = np.where(rng.random((n_raters, 150)) < 0.6, truth, noise).astype(float)
    matrix[rng.random(matrix.shape) < missing] = NAN
    scale = np.arange(1, 8)

    table = cohen_kappa_pairs(matrix, domain=scale, weights=weights)

    assert len(table.value) == n_raters * (n_raters - 1) // 2
    for a, b, n_items, kappa in zip(
        table.rater_a, table.rater_b, table.n_items, table.value, strict=True
    ):
        both = ~np.isnan(matrix[a]) & ~np.isnan(matrix[b])
        assert n_items == both.sum()
        expected = cohen_kappa_score(
            matrix[a, both], matrix[b, both], labels=scale, weights=weights
        )
        assert kappa == pytest.approx(expected, abs=1e-12)


def test_cohen_leaves_out_pairs_with_fewer_than_two_items_in_common():
    matrix = np.array([[0, 1, 0, NAN], [0, 1, NAN, 1], [NAN, NAN, 1, 0]])

    table = cohen_kappa_pairs(matrix, domain=[0, 1])

    assert list(zip(table.rater_a.tolist(), table.rater_b.tolist(), strict=True)) == [(0, 1)]
    assert cohen_kappa_pairs(matrix, domain=[0, 1], min_items=1).n_items.tolist() == [2, 1, 1]


def test_cohen_is_nan_for_a_pair_that_used_one_and_the_same_value():
    matrix = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, NAN]])

    table = cohen_kappa_pairs(matrix, domain=[0, 1])

    by_pair = dict(zip(zip(table.rater_a, table.rater_b, strict=True), table.value, strict=True))
    assert np.isnan(by_pair[(1, 2)])
    assert by_pair[(0, 1)] == pytest.approx(0.0)


def test_cohen_on_an_empty_matrix_gives_an_empty_table():
    table = cohen_kappa_pairs(np.full((3, 4), NAN), domain=[0, 1])

    assert len(table.rater_a) == len(table.value) == 0


def test_unknown_kappa_weights_are_an_error():
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa_pairs(np.zeros((2, 2)), domain=[0, 1], weights="cubic")  # type: ignore[arg-type]
