"""The figures a recompute keeps: a small project worked out by hand, and larger random ones whose
every figure must equal what the statistics in `agreement.metrics` give on the project's
reliability matrix (raters x items, as the statistics take it).

alice leads; bob, carol and dave label (erin too, in the random projects)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from agreement.metrics.agreement import observed_agreement
from agreement.metrics.alpha import LEVELS, krippendorff_alpha
from agreement.metrics.bootstrap import alpha_interval, fleiss_interval
from agreement.metrics.data import LabelSets, reliability_matrix
from agreement.metrics.gwet import gwet_ac
from agreement.metrics.kappa import cohen_kappa_pairs, fleiss_kappa
from agreement.metrics.multilabel import label_alphas, masi_alpha, masi_alpha_interval
from agreement.metrics.raters import consensus_agreement
from agreement.models import ProjectAgreement, RaterQuality
from agreement.services.arrays import project_annotations
from agreement.services.recompute import agreement_recompute_request, agreement_recompute_run
from labeling.assignment import item_claim
from labeling.services import annotation_submit
from projects.models import AgreementRule, Item, LabelKind, Project
from projects.services.items import item_update
from tests.agreement.test_recompute import labeled_project
from tests.factories import UserFactory, make_items, make_project

# Who chose what on which item (items in key order): worked out below by hand.
LABELS = {
    "bob": ["positive", "positive", "negative", "neutral"],
    "carol": ["positive", "positive", "negative", "positive"],
    "dave": ["positive", "negative", "neutral", "negative"],
}


@pytest.fixture
def raters(db) -> dict[str, Any]:
    return {name: UserFactory(username=name) for name in ("bob", "carol", "dave", "erin")}


def label_all(
    project: Project, rater: Any, values: list[Any], *, seconds: list[int] | None = None,
    weeks_ago: int = 0,
) -> None:  # fmt: skip
    """The rater labels every item they are served, item-N taking values[N]."""
    now = timezone.now() - timedelta(weeks=weeks_ago)
    n = 0
    while holds := item_claim(project=project, rater=rater, hold=1):
        item = holds[0].item
        index = int(item.key.rsplit("-", 1)[1])
        annotation_submit(
            project=project, item_id=item.pk, rater=rater, value=values[index],
            client_id=uuid.uuid4(), time_spent_ms=(seconds or [0] * 10)[index] * 1000,
            now=now + timedelta(minutes=n),
        )  # fmt: skip
        n += 1


def recompute(project: Project) -> dict[str, Any]:
    job = agreement_recompute_request(project=project, requested_by=None, enqueue=False)
    agreement_recompute_run(job_id=job.pk)
    return ProjectAgreement.objects.get(project=project).summary


@pytest.fixture
def by_hand(alice, raters) -> Project:
    return labeled_by_hand(alice, raters)


def labeled_by_hand(alice: Any, raters: dict[str, Any]) -> Project:
    """Four items, three raters each; bob and carol label this week, dave a week ago. Item 1 is
    gold (positive); bob takes 4, 6, 8 and 10 seconds an item."""
    project = make_project(
        lead=alice, raters=[raters[n] for n in LABELS], raters_per_item=3,
        agreement_rule=AgreementRule.MAJORITY, name="By hand",
    )  # fmt: skip
    make_items(project, 4)
    label_all(project, raters["bob"], LABELS["bob"], seconds=[4, 6, 8, 10])
    label_all(project, raters["carol"], LABELS["carol"], seconds=[5, 5, 5, 5])
    label_all(project, raters["dave"], LABELS["dave"], weeks_ago=1)
    item_update(item=Item.objects.get(project=project, key="item-1"), gold_value="positive",
                is_gold=True)  # fmt: skip
    return project


def test_the_figures_of_a_small_project_worked_out_by_hand(by_hand):
    """Counts per item (positive, negative, neutral): (3,0,0), (2,1,0), (0,2,1), (1,1,1).

    - observed: P_i = 1, 1/3, 1/3, 0, so P = 5/12;
    - Fleiss: p = (1/2, 1/3, 1/6), P_e = 7/18, kappa = (5/12 - 7/18) / (11/18) = 1/22;
    - alpha: coincidences o_pp 4, o_pn 1.5, o_pu .5, o_nn 1, o_nu 1.5 (and mirrored), n = 12,
      D_o = 7/12, D_e = 2 (6*4 + 6*2 + 4*2) / 132 = 2/3, alpha = 1 - 7/8 = 1/8;
    - Gwet: pi = (1/2, 1/3, 1/6), p_e = 3/6 * 22/36 = 11/36, AC1 = (15/36 - 11/36)/(25/36) = 4/25;
    - Cohen: bob-carol agree on 3 of 4, p_e = 7/16, kappa 5/9; bob-dave and carol-dave agree
      on 1 of 4 with p_e = 5/16, kappa -1/11 each; mean 37/297;
    - specific agreement: positive 8/12, negative 2/8, neutral 0; kappa_j = (P_j - p_j) /
      (1 - p_j): 1/3, -1/8, -1/5.
    """
    summary = recompute(by_hand)

    assert summary["observed_agreement"] == {
        "value": pytest.approx(5 / 12, abs=1e-6), "items": 4, "raters": 3, "pairable": 12,
        "reason": "", "interval": None,
    }  # fmt: skip
    assert summary["kappa"]["value"] == pytest.approx(1 / 22, abs=1e-6)
    assert summary["kappa"]["statistic"] == "fleiss"
    assert summary["alpha"]["value"] == pytest.approx(1 / 8, abs=1e-6)
    assert summary["alpha"]["level"] == "nominal"
    assert (summary["alpha"]["items"], summary["alpha"]["pairable"]) == (4, 12)
    interval = summary["alpha"]["interval"]
    assert interval["low"] <= 1 / 8 <= interval["high"]
    assert (interval["confidence"], interval["resamples"]) == (0.95, 1000)
    assert summary["gwet"]["ac1"]["value"] == pytest.approx(4 / 25, abs=1e-6)

    cohen = summary["cohen_kappa"]["unweighted"]
    assert cohen["mean"] == pytest.approx(37 / 297, abs=1e-6)
    assert (cohen["min"], cohen["max"]) == (pytest.approx(-1 / 11), pytest.approx(5 / 9))
    assert (cohen["pairs"], cohen["raters"], cohen["items"]) == (3, 3, 4)
    ids = {u.username: u.pk for u in UserFactory._meta.model.objects.filter(username__in=LABELS)}
    pairs = {(p["a"], p["b"]): p for p in summary["pairs"]}
    bob_carol = pairs[(ids["bob"], ids["carol"])]
    assert (bob_carol["items"], bob_carol["agreement"]) == (4, 0.75)
    assert bob_carol["kappa"] == pytest.approx(5 / 9, abs=1e-6)
    assert pairs[(ids["bob"], ids["dave"])]["kappa"] == pytest.approx(-1 / 11, abs=1e-6)

    per_label = {row["value"]: row for row in summary["per_label"]}
    assert per_label["positive"]["specific_agreement"] == pytest.approx(2 / 3, abs=1e-6)
    assert per_label["negative"]["specific_agreement"] == pytest.approx(1 / 4, abs=1e-6)
    assert per_label["neutral"]["specific_agreement"] == 0
    assert per_label["positive"]["kappa"] == pytest.approx(1 / 3, abs=1e-6)
    assert per_label["negative"]["kappa"] == pytest.approx(-1 / 8, abs=1e-6)
    assert per_label["neutral"]["kappa"] == pytest.approx(-1 / 5, abs=1e-6)
    assert [per_label[v]["annotations"] for v in ("positive", "negative", "neutral")] == [6, 4, 2]
    assert [per_label[v]["consensus_items"] for v in ("positive", "negative", "neutral")] == [
        2, 1, 0,
    ]  # fmt: skip
    # Raters' labels (rows) against the consensus (columns) of items 0-2; item 3 is a tie.
    assert summary["confusion"]["matrix"] == [[5, 0, 0], [1, 2, 0], [0, 1, 0]]
    assert summary["confusion"]["annotations"] == 9
    assert summary["conflicts"] == {"open": 1}

    # Against the consensus, bob and carol agree on all three decided items (kappa 1); dave on
    # one, which chance alone gives (p_o = p_e = 1/3): kappa 0.
    assert summary["rater_kappa"][str(ids["bob"])] == {"kappa": 1.0, "items": 3}
    assert summary["rater_kappa"][str(ids["dave"])] == {"kappa": 0.0, "items": 3}


def test_the_scorecards_of_the_small_project(by_hand):
    recompute(by_hand)
    cards = {c.rater.username: c for c in RaterQuality.objects.filter(project=by_hand)}

    # Leave-one-out: only item 0 has a majority among the others for bob and carol; dave also
    # meets one on items 1 and 2 (bob and carol agree there) and misses both.
    assert (cards["bob"].loo_agreement, cards["bob"].loo_items) == (1.0, 1)
    assert (cards["carol"].loo_agreement, cards["carol"].loo_items) == (1.0, 1)
    assert (cards["dave"].loo_agreement, cards["dave"].loo_items) == (pytest.approx(1 / 3), 3)
    # Gold item 1 is positive: bob and carol right, dave wrong.
    assert (cards["bob"].gold_correct, cards["bob"].gold_items) == (1, 1)
    assert (cards["dave"].gold_correct, cards["dave"].gold_items) == (0, 1)
    assert cards["bob"].median_seconds == 7.0
    assert cards["bob"].labels_per_hour == pytest.approx(4 / (28 / 3600))
    assert cards["dave"].median_seconds is None and cards["dave"].labels_per_hour is None
    assert {c.conflicts for c in cards.values()} == {1}  # item 3, a tie, which all three rated
    assert all(0 <= c.ds_accuracy <= 1 for c in cards.values())
    # dave labeled a week before the others: his trend has his own week, theirs another.
    assert len(cards["dave"].trend) == 1 and cards["dave"].trend[0][0] != cards["bob"].trend[0][0]
    assert cards["dave"].trend[0][1:] == [pytest.approx(1 / 3), 3]


def test_agreement_per_week_follows_each_items_last_label(by_hand):
    summary = recompute(by_hand)

    # Every item's last label came this week (bob's and carol's), so one week holds them all.
    assert len(summary["weekly"]) == 1
    assert summary["weekly"][0]["items"] == 4
    assert summary["weekly"][0]["observed_agreement"] == pytest.approx(5 / 12, abs=1e-6)


# --- every figure equals the statistics on the reliability matrix ------------------------------


def matrix_of(project: Project) -> tuple[np.ndarray, Any]:
    annotations = project_annotations(project)
    matrix = reliability_matrix(
        annotations.item, annotations.rater, annotations.code, n_items=len(annotations.item_ids),
        n_raters=len(annotations.rater_ids),
    )  # fmt: skip
    return matrix, annotations


def close(x: float | None, y: float) -> bool:
    return (x is None and np.isnan(y)) or x == pytest.approx(y, abs=1e-6)


@pytest.mark.parametrize("seed", [3, 8])
def test_single_label_figures_equal_the_statistics_on_the_matrix(alice, raters, seed):
    """Four raters, three per item: ratings are missing from the matrix, as in any project."""
    project = labeled_project(
        alice, list(raters.values()), kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY,
        items=40, seed=seed,
    )  # fmt: skip
    summary = recompute(project)
    matrix, annotations = matrix_of(project)
    domain = np.arange(annotations.n_categories)

    alpha = krippendorff_alpha(matrix, domain=domain).alpha
    assert close(summary["alpha"]["value"], alpha.value)
    assert (summary["alpha"]["items"], summary["alpha"]["raters"], summary["alpha"]["pairable"]) \
        == (alpha.n_items, alpha.n_raters, alpha.n_pairable)  # fmt: skip
    interval = alpha_interval(matrix, domain=domain, n_resamples=1000, seed=0)
    assert close(summary["alpha"]["interval"]["low"], interval.low)
    assert close(summary["alpha"]["interval"]["high"], interval.high)
    fleiss = fleiss_kappa(matrix, domain=domain)
    assert close(summary["kappa"]["value"], fleiss.kappa.value)
    kappa_interval = fleiss_interval(matrix, domain=domain, n_resamples=1000, seed=0)
    assert close(summary["kappa"]["interval"]["low"], kappa_interval.low)
    assert close(summary["kappa"]["interval"]["high"], kappa_interval.high)
    for row, kappa_j in zip(summary["per_label"], fleiss.per_category, strict=True):
        assert close(row["kappa"], kappa_j)
    observed = observed_agreement(matrix, domain=domain)
    assert close(summary["observed_agreement"]["value"], observed.overall.value)
    for row, specific in zip(summary["per_label"], observed.per_category, strict=True):
        assert close(row["specific_agreement"], specific)
    assert close(summary["gwet"]["ac1"]["value"], gwet_ac(matrix, domain=domain).coefficient.value)

    pairs = cohen_kappa_pairs(matrix, domain=domain)
    ids = annotations.rater_ids
    expected = {
        (int(ids[a]), int(ids[b])): (k, n)
        for a, b, k, n in zip(pairs.rater_a, pairs.rater_b, pairs.value, pairs.n_items, strict=True)
    }
    got = {(p["a"], p["b"]): (p["kappa"], p["items"]) for p in summary["pairs"]}
    assert got.keys() == expected.keys()
    for key, (kappa, n) in expected.items():
        assert close(got[key][0], kappa) and got[key][1] == n
    defined = pairs.value[~np.isnan(pairs.value)]
    assert close(summary["cohen_kappa"]["unweighted"]["mean"], defined.mean())
    assert close(summary["cohen_kappa"]["unweighted"]["min"], defined.min())

    loo = consensus_agreement(matrix, domain=domain)
    cards = {c.rater_id: c for c in RaterQuality.objects.filter(project=project)}
    for r, rater_id in enumerate(ids):
        assert cards[int(rater_id)].loo_items == loo.n_items[r]
        assert close(cards[int(rater_id)].loo_agreement, loo.agreement[r])


def test_rating_figures_use_the_scale_at_every_level(alice, raters):
    project = labeled_project(
        alice, list(raters.values()), kind=LabelKind.RATING, rule=AgreementRule.MAJORITY,
        items=40, seed=5,
    )  # fmt: skip
    summary = recompute(project)
    matrix, annotations = matrix_of(project)
    scale = np.arange(1.0, 6.0)
    ratings = matrix + 1.0  # codes are the rating minus the scale's minimum

    assert summary["alpha"]["level"] == "interval"
    for level in LEVELS:
        expected = krippendorff_alpha(ratings, domain=scale, level=level).alpha.value
        assert close(summary["alpha_levels"][level]["value"], expected), level
    interval = alpha_interval(ratings, domain=scale, level="interval", seed=0)
    assert close(summary["alpha"]["interval"]["low"], interval.low)
    for weights in ("linear", "quadratic"):
        expected = gwet_ac(ratings, domain=scale, weights=weights).coefficient.value
        assert close(summary["gwet"][f"ac2_{weights}"]["value"], expected)
        pairs = cohen_kappa_pairs(ratings, domain=scale, weights=weights)
        got = sorted((p["a"], p["b"], p[f"kappa_{weights}"]) for p in summary["pairs"])
        ids = annotations.rater_ids
        want = sorted(
            (int(ids[a]), int(ids[b]), k)
            for a, b, k in zip(pairs.rater_a, pairs.rater_b, pairs.value, strict=True)
        )
        assert [g[:2] for g in got] == [w[:2] for w in want]
        assert all(close(g[2], w[2]) for g, w in zip(got, want, strict=True))
    assert [row["value"] for row in summary["per_label"]] == ["1", "2", "3", "4", "5"]


def test_multi_label_figures_equal_the_statistics_on_label_sets(alice, raters):
    project = labeled_project(
        alice, list(raters.values()), kind=LabelKind.MULTI, rule=AgreementRule.MAJORITY,
        items=40, seed=2,
    )  # fmt: skip
    summary = recompute(project)
    annotations = project_annotations(project)
    n_raters, n_items = len(annotations.rater_ids), len(annotations.item_ids)
    n_labels = annotations.n_categories
    present = np.zeros((n_raters, n_items), dtype=bool)
    present[annotations.rater, annotations.item] = True
    chosen = np.zeros((n_raters, n_items, n_labels), dtype=bool)
    bits = (annotations.code[:, None] >> np.arange(n_labels)) & 1
    chosen[annotations.rater, annotations.item] = bits.astype(bool)
    sets = LabelSets(chosen=chosen, present=present)

    masi = masi_alpha(sets).alpha
    assert summary["alpha"]["level"] == "masi"
    assert close(summary["alpha"]["value"], masi.value)
    assert (summary["alpha"]["items"], summary["alpha"]["raters"]) == (masi.n_items, masi.n_raters)
    interval = masi_alpha_interval(sets, seed=0)
    assert close(summary["alpha"]["interval"]["low"], interval.low)
    assert close(summary["alpha"]["interval"]["high"], interval.high)
    assert summary["kappa"] is None
    for row, estimate in zip(summary["per_label"], label_alphas(sets), strict=True):
        assert close(row["alpha"]["value"], estimate.value)
        assert row["with_consensus"] + row["beyond_consensus"] <= row["annotations"]
    assert len(summary["confusion"]["matrix"]) == n_labels


def test_a_project_whose_raters_all_agree_says_why_kappa_is_undefined(alice, raters):
    project = make_project(lead=alice, raters=[raters["bob"], raters["carol"]], raters_per_item=2)
    make_items(project, 3)
    for name in ("bob", "carol"):
        label_all(project, raters[name], ["positive"] * 3)

    summary = recompute(project)

    assert summary["observed_agreement"]["value"] == 1.0
    assert summary["kappa"]["value"] is None
    assert "one category" in summary["kappa"]["reason"]
    assert summary["alpha"]["value"] is None and "no variation" in summary["alpha"]["reason"]
    assert summary["cohen_kappa"]["unweighted"]["undefined_pairs"] == 1


@pytest.mark.parametrize("kind", [LabelKind.SINGLE, LabelKind.RATING, LabelKind.MULTI])
def test_a_project_nobody_labeled_yet_has_figures_that_say_why_they_are_empty(alice, kind):
    project = make_project(lead=alice, label_kind=kind, name=f"empty {kind}")
    make_items(project, 3)

    summary = recompute(project)

    assert (summary["items"], summary["annotations"]) == (0, 0)
    assert summary["alpha"]["value"] is None
    assert "two or more" in summary["alpha"]["reason"]
    assert summary["weekly"] == []
    assert not RaterQuality.objects.filter(project=project).exists()
