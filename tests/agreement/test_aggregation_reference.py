"""Dawid-Skene against an independent implementation on random data: a plain loop over items,
raters and classes written from the paper's equations (2.3-2.5), smoothing included. It checks
the vectorised bookkeeping (bincount by key, log-space E-step) step by step, to rounding error.

(Toloka's crowd-kit `DawidSkene` agreed with ours round for round to 5e-10 when it was tried;
it is not a test dependency, since it brings pandas, pyarrow and transformers, some 400 MB.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from agreement.aggregation.dawid_skene import dawid_skene


def random_annotations(
    seed: int, *, n_items: int, n_raters: int, q: int, n_annotations: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raters right 40-95% of the time on random items, some items rated twice by one rater
    and some not at all."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, q, size=n_items)
    accuracy = rng.uniform(0.4, 0.95, size=n_raters)
    items = rng.integers(0, n_items, size=n_annotations)
    raters = rng.integers(0, n_raters, size=n_annotations)
    right = rng.random(n_annotations) < accuracy[raters]
    wrong = (truth[items] + rng.integers(1, q, size=n_annotations)) % q
    labels = np.where(right, truth[items], wrong)
    return items, raters, labels


def loop_dawid_skene(
    items: np.ndarray,
    raters: np.ndarray,
    labels: np.ndarray,
    *,
    n_items: int,
    n_raters: int,
    q: int,
    smoothing: float,
    rounds: int,
) -> np.ndarray:
    """`rounds` rounds of M-step then E-step from the vote shares, one number at a time."""
    annotations = list(zip(items.tolist(), raters.tolist(), labels.tolist(), strict=True))
    by_item: list[list[tuple[int, int]]] = [[] for _ in range(n_items)]
    for i, r, label in annotations:
        by_item[i].append((r, label))
    rated = [i for i in range(n_items) if by_item[i]]
    posterior = [[0.0] * q for _ in range(n_items)]
    for i in rated:
        for _r, label in by_item[i]:
            posterior[i][label] += 1 / len(by_item[i])

    for _ in range(rounds):
        # M-step (eqs. 2.3, 2.4), with `smoothing` added to every count.
        counts = [[[smoothing] * q for _ in range(q)] for _ in range(n_raters)]
        for i, r, label in annotations:
            for c in range(q):
                counts[r][c][label] += posterior[i][c]
        confusion = [[[n / sum(row) for n in row] for row in rater] for rater in counts]
        class_totals = [sum(posterior[i][c] for i in rated) for c in range(q)]
        priors = [(t + smoothing) / (len(rated) + q * smoothing) for t in class_totals]
        # E-step (eq. 2.5).
        for i in rated:
            joint = list(priors)
            for r, label in by_item[i]:
                for c in range(q):
                    joint[c] *= confusion[r][c][label]
            total = math.fsum(joint)
            posterior[i] = [j / total for j in joint]
    return np.array(posterior)


@pytest.mark.parametrize(
    ("seed", "q", "smoothing"), [(1, 2, 0.1), (2, 3, 0.01), (3, 4, 1.0), (4, 5, 0.5)]
)
def test_vectorised_steps_match_a_plain_loop(seed, q, smoothing):
    n_items, n_raters = 60, 7
    items, raters, labels = random_annotations(
        seed, n_items=n_items, n_raters=n_raters, q=q, n_annotations=150
    )
    rounds = 6
    expected = loop_dawid_skene(
        items,
        raters,
        labels,
        n_items=n_items,
        n_raters=n_raters,
        q=q,
        smoothing=smoothing,
        rounds=rounds,
    )
    # Plain EM with tol=0 never stops early: exactly `rounds` rounds.
    result = dawid_skene(
        items,
        raters,
        labels,
        n_items=n_items,
        n_raters=n_raters,
        q=q,
        smoothing=smoothing,
        tol=0.0,
        max_iter=rounds,
        accelerate=False,
    )
    assert result.iterations == rounds
    rated = result.n_ratings > 0
    assert 0 < rated.sum() < n_items  # the case has unrated items too
    np.testing.assert_allclose(result.distribution[rated], expected[rated], atol=1e-12)
