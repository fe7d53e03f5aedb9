"""Bootstrap intervals over items: each fast replicate equals a full recompute on the resampled
items, the intervals agree with the plain bootstrap, and degenerate input gives nan bounds."""

import numpy as np
import pytest

from agreement.metrics.agreement import observed_agreement
from agreement.metrics.alpha import LEVELS, krippendorff_alpha
from agreement.metrics.bootstrap import (
    alpha_interval,
    alpha_replicates,
    bootstrap_interval,
    fleiss_interval,
    fleiss_replicates,
)
from agreement.metrics.data import group_rows, value_counts
from agreement.metrics.kappa import fleiss_kappa

NAN = np.nan


def ratings(seed: int, n_raters: int, n_items: int, n_values: int, missing: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_values, size=n_items)
    noise = rng.integers(0, n_values, size=(n_raters, n_items))
    matrix = np.where(rng.random((n_raters, n_items)) < 0.6, truth, noise).astype(float)
    matrix[rng.random(matrix.shape) < missing] = NAN
    return matrix


@pytest.mark.parametrize("level", LEVELS)
def test_each_alpha_replicate_equals_alpha_of_the_resampled_items(level):
    matrix = ratings(1, 4, 150, 5, 0.4) + 1.0
    domain = np.arange(1.0, 6.0)
    counts = value_counts(matrix, domain)
    pairable = counts.sum(axis=1) >= 2
    groups, group_of_item, _ = group_rows(counts[pairable])
    rng = np.random.default_rng(2)
    draws = [rng.integers(0, pairable.sum(), pairable.sum()) for _ in range(5)]
    multiplicities = np.stack(
        [np.bincount(group_of_item[d], minlength=len(groups)) for d in draws]
    ).astype(float)

    fast = alpha_replicates(groups, multiplicities, domain=domain, level=level)

    full = [
        krippendorff_alpha(matrix[:, pairable][:, d], domain=domain, level=level).alpha.value
        for d in draws
    ]
    np.testing.assert_allclose(fast, full, atol=1e-12)


def test_each_fleiss_replicate_equals_fleiss_kappa_of_the_resampled_items():
    matrix = ratings(3, 5, 120, 4, 0.5)
    counts = value_counts(matrix, np.arange(4.0))
    rated = counts.sum(axis=1) >= 1
    groups, group_of_item, _ = group_rows(counts[rated])
    rng = np.random.default_rng(4)
    draws = [rng.integers(0, rated.sum(), rated.sum()) for _ in range(5)]
    multiplicities = np.stack(
        [np.bincount(group_of_item[d], minlength=len(groups)) for d in draws]
    ).astype(float)

    fast = fleiss_replicates(groups, multiplicities)

    full = [fleiss_kappa(matrix[:, rated][:, d], domain=range(4)).kappa.value for d in draws]
    np.testing.assert_allclose(fast, full, atol=1e-12)


def test_alpha_interval_agrees_with_the_plain_bootstrap():
    """Few groups of identical items (nominal, 3 raters, 3 categories: at most 16 distinct
    count vectors for 1500 items): multiplicities are drawn from a multinomial."""
    matrix = ratings(5, 3, 1500, 3, 0.1)
    estimate = krippendorff_alpha(matrix, domain=range(3)).alpha.value
    assert len(group_rows(value_counts(matrix, np.arange(3.0)))[0]) * 20 <= 1500

    fast = alpha_interval(matrix, domain=range(3), n_resamples=400, seed=6)
    plain = bootstrap_interval(
        matrix,
        lambda m: krippendorff_alpha(m, domain=range(3)).alpha.value,
        n_resamples=400,
        seed=6,
    )

    assert fast.low < estimate < fast.high
    assert fast.low == pytest.approx(plain.low, abs=0.02)
    assert fast.high == pytest.approx(plain.high, abs=0.02)
    assert (fast.n_resamples, fast.n_undefined, fast.confidence) == (400, 0, 0.95)


def test_interval_alpha_on_a_wide_scale_agrees_with_the_plain_bootstrap():
    """Almost every item is its own group (0..100 scale, 8 raters): item draws are tallied."""
    matrix = ratings(7, 8, 200, 101, 0.2)
    domain = np.arange(101.0)
    assert len(group_rows(value_counts(matrix, domain))[0]) * 20 > 200
    estimate = krippendorff_alpha(matrix, domain=domain, level="interval").alpha.value

    fast = alpha_interval(matrix, domain=domain, level="interval", n_resamples=300, seed=8)
    plain = bootstrap_interval(
        matrix,
        lambda m: krippendorff_alpha(m, domain=domain, level="interval").alpha.value,
        n_resamples=300,
        seed=8,
    )

    assert fast.low < estimate < fast.high
    assert fast.low == pytest.approx(plain.low, abs=0.03)
    assert fast.high == pytest.approx(plain.high, abs=0.03)


def test_fleiss_interval_brackets_the_estimate_and_follows_the_confidence():
    matrix = ratings(9, 6, 300, 3, 0.3)
    estimate = fleiss_kappa(matrix, domain=range(3)).kappa.value

    wide = fleiss_interval(matrix, domain=range(3), confidence=0.99, seed=1)
    narrow = fleiss_interval(matrix, domain=range(3), confidence=0.8, seed=1)

    assert wide.low < narrow.low < estimate < narrow.high < wide.high
    assert wide.n_resamples == 1000


def test_the_same_seed_gives_the_same_interval():
    matrix = ratings(10, 3, 200, 3, 0.2)

    first = alpha_interval(matrix, domain=range(3), seed=42)
    again = alpha_interval(matrix, domain=range(3), seed=np.random.default_rng(42))
    other = alpha_interval(matrix, domain=range(3), seed=43)

    assert first == again
    assert first != other


@pytest.mark.parametrize(
    "matrix",
    [np.zeros((2, 0)), np.array([[0.0, 1.0]]), np.array([[1.0, 1.0], [1.0, 1.0]])],
    ids=["empty", "one rater", "one category only"],
)
def test_intervals_of_undefined_statistics_are_nan(matrix):
    for interval in (
        alpha_interval(matrix, domain=[0, 1], n_resamples=50),
        fleiss_interval(matrix, domain=[0, 1], n_resamples=50),
    ):
        assert np.isnan(interval.low) and np.isnan(interval.high)
        assert interval.n_undefined == 50


def test_bootstrap_interval_of_any_statistic_of_the_matrix():
    matrix = ratings(12, 3, 150, 2, 0.0)
    estimate = observed_agreement(matrix, domain=[0, 1]).overall.value

    interval = bootstrap_interval(
        matrix,
        lambda m: observed_agreement(m, domain=[0, 1]).overall.value,
        n_resamples=200,
        seed=3,
    )

    assert interval.low < estimate < interval.high
    assert interval.n_resamples == 200
