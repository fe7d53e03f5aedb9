"""Gwet's AC1 and AC2: the examples Gwet publishes with irrCAC, a plain transcription of
irrCAC's gwet.ac1.raw on random data, and the degenerate cases.

irrCAC itself (PyPI `irrCAC` 0.4.4, the Python port) is not a test dependency: it pins
scipy == 1.12.0, which drags numpy back to 1.x. The random-data test below agreed with it to
1e-9 when it was installed by hand."""

import numpy as np
import pytest

from agreement.metrics.gwet import GwetWeights, gwet_ac, gwet_weights

NAN = np.nan

# irrCAC's `cac.raw4raters` (Gwet 2014, Handbook of Inter-Rater Reliability, 4th ed., p. 120):
# 4 raters x 12 units on categories 1..5, no rater rated every unit.
CAC_RAW4RATERS = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, NAN],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


def test_gwet_ac1_of_cac_raw4raters():
    """Gwet's irrCAC README: gwet.ac1.raw(cac.raw4raters) gives pa = 0.8181818,
    pe = 0.1903212, AC1 = 0.77544."""
    result = gwet_ac(CAC_RAW4RATERS, domain=[1, 2, 3, 4, 5])

    assert round(result.coefficient.value, 3) == 0.775
    assert round(result.pa, 3) == 0.818
    assert round(result.pe, 3) == 0.190
    assert (result.coefficient.n_items, result.coefficient.n_raters) == (11, 4)


def test_gwet_ac2_quadratic_of_cac_raw4raters():
    """Gwet's irrCAC weighting vignette: gwet.ac1.raw(cac.raw4raters, weights = "quadratic")
    gives pa = 0.9753788, pe = 0.7137044, AC2 = 0.914."""
    result = gwet_ac(CAC_RAW4RATERS, domain=[1, 2, 3, 4, 5], weights="quadratic")

    assert round(result.coefficient.value, 3) == 0.914
    assert round(result.pa, 3) == 0.975
    assert round(result.pe, 3) == 0.714


def test_gwet_weights_over_three_categories():
    """The weights of irrCAC's weighting vignette for categories 1:3 (Gwet 2014, ch. 3)."""
    domain = np.array([1.0, 2.0, 3.0])

    np.testing.assert_allclose(gwet_weights(domain, "linear")[0], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(gwet_weights(domain, "quadratic")[0], [1.0, 0.75, 0.0])
    np.testing.assert_allclose(gwet_weights(domain, "ordinal")[0], [1.0, 2 / 3, 0.0])
    np.testing.assert_allclose(gwet_weights(domain, "identity"), np.eye(3))


def test_gwet_ac1_and_ac2_of_the_abstractors_table():
    """irrCAC README and weighting vignette, `cont3x3abstractors` (2 raters, 100 subjects; rows
    rater 1: (13, 0, 0), (0, 20, 7), (0, 4, 56)): gwet.ac1.table gives AC1 = 0.8493305 and,
    with quadratic weights, AC2 = 0.9402369."""
    counts = np.array([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
    rows, cols = np.nonzero(counts)
    matrix = np.stack(
        [np.repeat(rows, counts[rows, cols]), np.repeat(cols, counts[rows, cols])]
    ).astype(float)

    assert round(gwet_ac(matrix, domain=[0, 1, 2]).coefficient.value, 4) == 0.8493
    quadratic = gwet_ac(matrix, domain=[0, 1, 2], weights="quadratic")
    assert round(quadratic.coefficient.value, 4) == 0.9402


def test_gwet_ac1_of_fleiss_psychiatrists():
    """irrCAC README, `distrib.6raters` (15 of Fleiss' 1971 patients, 6 psychiatrists, 5
    diagnoses): gwet.ac1.dist gives AC1 = 0.4448007 with pa = 0.5511111, pe = 0.1914815; the
    weighting vignette gives AC2 = 0.4837438 with quadratic weights."""
    table = np.array(
        [
            [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
            [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
            [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
        ]
    )  # fmt: skip
    matrix = np.stack([np.repeat(np.arange(5), row) for row in table], axis=1).astype(float)

    result = gwet_ac(matrix, domain=range(5))

    assert round(result.coefficient.value, 4) == 0.4448
    assert (round(result.pa, 4), round(result.pe, 4)) == (0.5511, 0.1915)
    quadratic = gwet_ac(matrix, domain=range(5), weights="quadratic")
    assert round(quadratic.coefficient.value, 4) == 0.4837


def gwet_ac1_raw(ratings: np.ndarray, categories: list[float], weights: np.ndarray) -> float:
    """A line-by-line transcription of irrCAC's gwet.ac1.raw (R, agree.coeff3.raw.r), one item
    and one category at a time; ``ratings`` is subjects x raters. Subjects nobody rated are
    dropped first, as the Python port does."""
    ratings = ratings[~np.isnan(ratings).all(axis=1)]
    n, q = len(ratings), len(categories)
    agree = np.zeros((n, q))
    for i in range(n):
        for k in range(q):
            agree[i, k] = np.sum(ratings[i] == categories[k])
    agree_w = np.zeros((n, q))
    for i in range(n):
        for k in range(q):
            agree_w[i, k] = sum(weights[k, other] * agree[i, other] for other in range(q))
    r = agree.sum(axis=1)
    pa_terms = [
        sum(agree[i, k] * (agree_w[i, k] - 1) for k in range(q)) / (r[i] * (r[i] - 1))
        for i in range(n)
        if r[i] >= 2
    ]
    pa = sum(pa_terms) / len(pa_terms)
    pi = [sum(agree[i, k] / r[i] for i in range(n)) / n for k in range(q)]
    pe = weights.sum() * sum(p * (1 - p) for p in pi) / (q * (q - 1))
    return (pa - pe) / (1 - pe)


@pytest.mark.parametrize("weights", ["identity", "linear", "quadratic", "ordinal"])
@pytest.mark.parametrize(
    ("n_raters", "n_items", "missing"), [(2, 60, 0.0), (4, 120, 0.35), (9, 80, 0.6)]
)
def test_gwet_matches_irrcacs_formulas_on_random_data_with_missing_ratings(
    weights: GwetWeights, n_raters, n_items, missing
):
    """A declared 1..6 scale of which the raters use 2..5, the weights computed over it."""
    rng = np.random.default_rng(n_raters * n_items)
    truth = rng.integers(2, 6, size=n_items)
    noise = rng.integers(2, 6, size=(n_raters, n_items))
    matrix = np.where(rng.random((n_raters, n_items)) < 0.6, truth, noise).astype(float)
    matrix[rng.random(matrix.shape) < missing] = NAN
    scale = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]

    ours = gwet_ac(matrix, domain=scale, weights=weights).coefficient.value
    reference = gwet_ac1_raw(matrix.T, scale, gwet_weights(np.array(scale), weights))

    assert ours == pytest.approx(reference, abs=1e-12)


def test_declared_categories_change_ac1():
    """AC1's chance agreement divides by q - 1, q the declared categories: declaring an unused
    category lowers pe."""
    matrix = np.array([[0, 1, 1, 0], [0, 1, 0, 0]], dtype=float)

    seen = gwet_ac(matrix, domain=[0, 1])
    declared = gwet_ac(matrix, domain=[0, 1, 2])

    assert declared.pe < seen.pe
    assert declared.pa == seen.pa


@pytest.mark.parametrize(
    ("matrix", "domain", "reason"),
    [
        (np.zeros((2, 0)), [0, 1], "no item has two or more ratings"),
        (np.array([[0.0, 1.0]]), [0, 1], "no item has two or more ratings"),
        (np.array([[0.0, 0.0], [0.0, 0.0]]), [0], "fewer than two categories"),
    ],
    ids=["empty", "one rater", "one category declared"],
)
def test_undefined_gwet_is_nan_with_a_reason(matrix, domain, reason):
    result = gwet_ac(matrix, domain=domain)

    assert np.isnan(result.coefficient.value)
    assert reason in result.coefficient.reason


def test_one_category_used_of_several_declared_is_perfect_agreement():
    """Unlike kappa and alpha, AC1 is defined when everybody chose the same category."""
    result = gwet_ac(np.array([[1.0, 1.0, 1.0], [1.0, 1.0, NAN]]), domain=[0, 1, 2])

    assert result.coefficient.value == pytest.approx(1.0)
