"""Multi-label agreement: alpha per label, MASI distances (Passonneau 2006) and alpha over label
sets, against NLTK and the `krippendorff` package."""

import itertools

import krippendorff
import numpy as np
import pytest
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance

from agreement.metrics.data import LabelSets
from agreement.metrics.multilabel import (
    label_alpha_intervals,
    label_alphas,
    label_matrix,
    masi_alpha,
    masi_alpha_interval,
    masi_distances,
)


def as_rows(*label_sets: set[str], labels: str = "abcd") -> np.ndarray:
    return np.array([[label in s for label in labels] for s in label_sets])


@pytest.mark.parametrize(
    ("first", "second", "distance"),
    [
        ({"a", "b"}, {"a", "b"}, 0.0),
        ({"a", "b"}, {"a"}, 1 - (1 / 2) * (2 / 3)),
        ({"a", "b"}, {"a", "b", "c", "d"}, 1 - (2 / 4) * (2 / 3)),
        ({"a", "b"}, {"b", "c"}, 1 - (1 / 3) * (1 / 3)),
        ({"a"}, {"b"}, 1.0),
    ],
    ids=["identical", "subset", "subset of four", "overlap", "disjoint"],
)
def test_masi_distance_follows_passonneau_2006(first, second, distance):
    """MASI = 1 - J * M with M = 1 (identical), 2/3 (one contains the other), 1/3 (overlap),
    0 (disjoint): Passonneau (2006), LREC. {a, b} vs {a} is 0.667; NLTK's documentation once
    printed 0.665 for {1, 2} vs {1, 2, 3, 4} because it rounded M to 0.67 and 0.33; NLTK now
    uses 2/3 and 1/3 exactly, as the paper does."""
    ours = masi_distances(as_rows(first), as_rows(second))[0, 0]

    assert ours == pytest.approx(distance)
    assert ours == pytest.approx(masi_distance(first, second))
    assert round(masi_distances(as_rows({"a", "b"}), as_rows({"a"}))[0, 0], 3) == 0.667


def test_masi_distance_of_empty_sets():
    distances = masi_distances(as_rows(set(), {"a"}), as_rows(set(), {"a"}))

    np.testing.assert_allclose(distances, [[0.0, 1.0], [1.0, 0.0]])


def random_label_sets(seed: int, n_raters: int, n_items: int, n_labels: int, missing: float):
    rng = np.random.default_rng(seed)
    truth = rng.random((n_items, n_labels)) < 0.35
    noise = rng.random((n_raters, n_items, n_labels)) < 0.35
    chosen = np.where(rng.random((n_raters, n_items, n_labels)) < 0.7, truth, noise)
    # NLTK's MASI divides by the size of the union: give every annotation one label at least.
    empty = ~chosen.any(axis=2)
    chosen[empty, rng.integers(0, n_labels, size=empty.sum())] = True
    present = rng.random((n_raters, n_items)) >= missing
    return LabelSets(chosen=chosen & present[:, :, np.newaxis], present=present)


@pytest.mark.parametrize(
    ("n_raters", "n_items", "n_labels", "missing"),
    [(2, 40, 3, 0.0), (3, 80, 4, 0.3), (6, 50, 5, 0.5)],
)
def test_masi_alpha_matches_nltk(n_raters, n_items, n_labels, missing):
    """Krippendorff's alpha with MASI, as NLTK's AnnotationTask(distance=masi_distance).alpha()
    computes it (Passonneau 2006 used this pairing)."""
    sets = random_label_sets(n_raters + n_items, n_raters, n_items, n_labels, missing)
    triples = [
        (rater, item, frozenset(np.nonzero(sets.chosen[rater, item])[0].tolist()))
        for rater, item in itertools.product(range(n_raters), range(n_items))
        if sets.present[rater, item]
    ]

    ours = masi_alpha(sets)
    theirs = AnnotationTask(data=triples, distance=masi_distance).alpha()

    assert ours.alpha.value == pytest.approx(theirs, abs=1e-12)
    m = sets.present.sum(axis=0)
    assert ours.alpha.n_items == (m >= 2).sum()
    assert ours.alpha.n_pairable == m[m >= 2].sum()


def test_masi_alpha_is_one_when_every_item_gets_the_same_sets_from_everyone():
    rows = as_rows({"a"}, {"a", "b"}, set())
    chosen = np.stack([rows, rows])
    sets = LabelSets(chosen=chosen, present=np.ones((2, 3), dtype=bool))

    assert masi_alpha(sets).alpha.value == pytest.approx(1.0)


def test_label_alphas_match_the_krippendorff_package_label_by_label():
    sets = random_label_sets(7, 5, 120, 4, 0.4)

    alphas = label_alphas(sets)

    for label, estimate in enumerate(alphas):
        expected = krippendorff.alpha(
            reliability_data=label_matrix(sets, label), level_of_measurement="nominal"
        )
        assert estimate.value == pytest.approx(expected, abs=1e-12)


def test_a_label_nobody_chose_has_undefined_alpha():
    sets = random_label_sets(8, 3, 30, 3, 0.0)
    chosen = sets.chosen.copy()
    chosen[:, :, 2] = False

    alphas = label_alphas(LabelSets(chosen=chosen, present=sets.present))

    assert alphas[0].defined and alphas[1].defined
    assert np.isnan(alphas[2].value)
    assert "on none" in alphas[2].reason


@pytest.mark.parametrize(
    "present",
    [np.zeros((2, 3), dtype=bool), np.eye(2, 3, dtype=bool)],
    ids=["no annotation", "one annotation per item"],
)
def test_multilabel_alphas_without_pairable_annotations_are_nan(present):
    sets = LabelSets(chosen=np.zeros((2, 3, 2), dtype=bool), present=present)

    assert all("two or more" in estimate.reason for estimate in label_alphas(sets))
    assert "two or more" in masi_alpha(sets).alpha.reason


def test_label_alpha_intervals_bracket_each_label_alpha():
    sets = random_label_sets(9, 3, 400, 3, 0.2)

    intervals = label_alpha_intervals(sets, n_resamples=300, seed=1)

    for estimate, interval in zip(label_alphas(sets), intervals, strict=True):
        assert interval.low < estimate.value < interval.high
        assert interval.n_resamples == 300


def resample_items(sets: LabelSets, draw: np.ndarray) -> LabelSets:
    return LabelSets(chosen=sets.chosen[:, draw, :], present=sets.present[:, draw])


def test_masi_alpha_interval_agrees_with_the_plain_bootstrap():
    sets = random_label_sets(11, 3, 300, 3, 0.1)
    estimate = masi_alpha(sets).alpha.value
    rng = np.random.default_rng(5)
    plain = [
        masi_alpha(resample_items(sets, rng.integers(0, 300, 300))).alpha.value for _ in range(300)
    ]

    fast = masi_alpha_interval(sets, n_resamples=300, seed=5)

    assert fast.low < estimate < fast.high
    low, high = np.quantile(plain, [0.025, 0.975])
    assert fast.low == pytest.approx(low, abs=0.03)
    assert fast.high == pytest.approx(high, abs=0.03)
    assert (fast.n_resamples, fast.n_undefined) == (300, 0)
    assert masi_alpha_interval(sets, n_resamples=300, seed=5) == fast


def test_masi_alpha_interval_of_identical_items_is_the_estimate():
    """Items with the same label sets (in any order of raters) are interchangeable: every
    replicate is the same set of items, so the interval has no width."""
    one = LabelSets(
        chosen=np.array([[[True, False]], [[True, True]], [[False, True]]]),
        present=np.ones((3, 1), dtype=bool),
    )
    alike = resample_items(one, np.zeros(10, dtype=np.int64))
    alike.chosen[:, 5:] = alike.chosen[::-1, 5:]  # the same sets from other raters
    expected = masi_alpha(alike).alpha.value

    interval = masi_alpha_interval(alike, n_resamples=20)

    assert interval.low == pytest.approx(expected) and interval.high == pytest.approx(expected)


def test_masi_alpha_interval_without_pairable_items_is_nan():
    sets = LabelSets(chosen=np.zeros((2, 3, 2), dtype=bool), present=np.eye(2, 3, dtype=bool))

    interval = masi_alpha_interval(sets, n_resamples=30)

    assert np.isnan(interval.low) and interval.n_undefined == 30
