"""The label models on two published data sets, against the figures published for them.

The data and their sources and licences: tests/data/crowd/README.md.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from agreement.aggregation.dawid_skene import dawid_skene
from agreement.aggregation.majority import majority_vote
from agreement.aggregation.result import NO_LABEL

DATA = Path(__file__).resolve().parent.parent / "data" / "crowd"


def read_csv(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as f:
        return list(csv.DictReader(f))


def codes(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """Index of each value in the sorted list of distinct values (numerically when they are)."""
    distinct = sorted(set(values), key=lambda v: (len(v), v))
    index = {v: i for i, v in enumerate(distinct)}
    return np.array([index[v] for v in values]), distinct


# --- Dawid & Skene (1979), the anaesthetists ---------------------------------------------------

# Estimated class probabilities and observer error rates (rows: true class 1-4, columns: rating
# 1-4), to two decimals: Dawid & Skene (1979), section 4, as the test of x-lin/consensusalgorithms
# (src/test/java/algorithms/dawidskene/DawidSkeneAlgorithmTest.java) transcribes them. The
# paper's pages were not at hand to give their numbers here.
PAPER_CLASS_PROBABILITIES = [0.40, 0.42, 0.11, 0.07]
# fmt: off
PAPER_ERROR_RATES = [
    [[0.89, 0.11, 0.00, 0.00],  # observer 1
     [0.07, 0.88, 0.05, 0.00],
     [0.00, 0.34, 0.66, 0.00],
     [0.00, 0.00, 0.56, 0.44]],
    [[0.83, 0.17, 0.00, 0.00],  # observer 2
     [0.05, 0.63, 0.31, 0.00],
     [0.00, 0.00, 1.00, 0.00],
     [0.00, 0.00, 0.00, 1.00]],
    [[1.00, 0.00, 0.00, 0.00],  # observer 3
     [0.11, 0.79, 0.11, 0.00],
     [0.00, 0.40, 0.20, 0.40],
     [0.00, 0.00, 0.67, 0.33]],
    [[0.94, 0.06, 0.00, 0.00],  # observer 4
     [0.05, 0.84, 0.10, 0.00],
     [0.00, 0.00, 0.80, 0.20],
     [0.00, 0.00, 0.33, 0.67]],
    [[1.00, 0.00, 0.00, 0.00],  # observer 5
     [0.16, 0.73, 0.11, 0.00],
     [0.00, 0.21, 0.79, 0.00],
     [0.00, 0.00, 0.33, 0.67]],
]
# fmt: on
# The estimated true class of each patient 1..45, and the posteriors of the patients left in some
# doubt (to four decimals): the output of dallascard/dawid_skene's EM on the same data (start from
# the vote shares, no smoothing, stop when the class marginals and error rates move by < 1e-5);
# the classes agree with the test above, which gives them to two decimals.
# fmt: off
REFERENCE_CLASSES = [
    1, 4, 2, 2, 2, 2, 1, 3, 2, 2, 4, 3, 1, 2, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 1, 1, 2, 1, 1, 1,
    1, 3, 1, 2, 2, 4, 2, 3, 3, 1, 1, 1, 2, 1, 2,
]
# fmt: on
REFERENCE_POSTERIORS = {
    7: [0.9810, 0.0190, 0.0, 0.0],
    30: [0.9991, 0.0009, 0.0, 0.0],
    35: [0.0, 0.9480, 0.0520, 0.0],
    38: [0.0, 0.0212, 0.9788, 0.0],
    42: [0.9998, 0.0002, 0.0, 0.0],
}


@pytest.fixture(scope="module")
def anaesthetists() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = read_csv("dawid_skene1979_anaesthetists_long.csv")
    patients = np.array([int(r["patient"]) - 1 for r in rows])
    observers = np.array([int(r["observer"]) - 1 for r in rows])
    ratings = np.array([int(r["rating"]) - 1 for r in rows])
    assert (patients.size, patients.max() + 1, observers.max() + 1) == (315, 45, 5)
    return patients, observers, ratings


def test_dawid_skene_reproduces_the_papers_estimates(anaesthetists):
    # The paper's EM is plain maximum likelihood: a vanishing smoothing stands for none.
    result = dawid_skene(
        *anaesthetists, n_items=45, n_raters=5, q=4, smoothing=1e-8, tol=1e-8, max_iter=500
    )
    assert result.converged
    assert result.priors is not None and result.confusion is not None
    np.testing.assert_allclose(result.priors, PAPER_CLASS_PROBABILITIES, atol=0.0051)
    np.testing.assert_allclose(result.confusion, PAPER_ERROR_RATES, atol=0.0051)
    assert (result.label + 1).tolist() == REFERENCE_CLASSES
    for patient, posterior in REFERENCE_POSTERIORS.items():
        np.testing.assert_allclose(result.distribution[patient - 1], posterior, atol=1e-4)


def test_dawid_skene_settles_a_patient_majority_vote_leaves_tied(anaesthetists):
    # Patient 12 got ratings 2, 2, 2 from observer 1 and 3, 3, 4, 3 from the others: three
    # votes each for classes 2 and 3. Majority vote says so; the model, knowing observer 1
    # calls class-3 patients "2" a third of the time, finds class 3.
    majority = majority_vote(*anaesthetists, n_items=45, n_raters=5, q=4)
    assert majority.tie[11] and majority.label[11] == NO_LABEL
    assert majority.tie.sum() == 1

    fitted = dawid_skene(*anaesthetists, n_items=45, n_raters=5, q=4, smoothing=0.01)
    assert fitted.label[11] + 1 == 3
    assert (fitted.label + 1).tolist() == REFERENCE_CLASSES


def test_patient_2_shows_what_the_model_adds_over_the_vote(anaesthetists):
    # Five of seven ratings say class 3; observers 2 and 5 say 4, and both never call a class-3
    # patient "4" (their error rates), so the patient is class 4.
    majority = majority_vote(*anaesthetists, n_items=45, n_raters=5, q=4)
    fitted = dawid_skene(*anaesthetists, n_items=45, n_raters=5, q=4)
    assert majority.label[1] + 1 == 3
    assert fitted.label[1] + 1 == 4


# --- Welinder et al. (2010), the bluebirds -----------------------------------------------------


@pytest.fixture(scope="module")
def bluebirds() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    labels = read_csv("bluebirds_welinder2010_labels.csv")
    gold = {
        row["image_id"]: int(row["gold"]) for row in read_csv("bluebirds_welinder2010_gold.csv")
    }
    images, image_ids = codes([row["image_id"] for row in labels])
    workers, _ = codes([row["worker_id"] for row in labels])
    given = np.array([int(row["label"]) for row in labels])
    truth = np.array([gold[image] for image in image_ids])
    assert (given.size, truth.size, workers.max() + 1) == (4212, 108, 39)
    return images, workers, given, truth


def test_majority_vote_on_the_bluebirds_is_right_on_about_three_quarters(bluebirds):
    images, workers, given, truth = bluebirds
    result = majority_vote(images, workers, given, n_items=108, n_raters=39, q=2)
    # 39 votes on two labels: no image can tie, so no rule for ties is needed here.
    assert not result.tie.any()
    assert (result.label == truth).sum() == 82  # 0.759
    assert (result.label == truth).mean() == pytest.approx(0.76, abs=0.01)


@pytest.mark.parametrize("smoothing", [0.01, 0.1])
def test_dawid_skene_on_the_bluebirds_reaches_0_88(bluebirds, smoothing):
    images, workers, given, truth = bluebirds
    result = dawid_skene(images, workers, given, n_items=108, n_raters=39, q=2, smoothing=smoothing)
    assert result.converged
    accuracy = (result.label == truth).mean()
    assert accuracy >= 0.88, accuracy
    assert (result.label == truth).sum() == 97  # 0.898
