"""The full recompute: it agrees with the live evaluation item by item, is idempotent, leaves
alone an item whose labels changed under it, and runs as a job (in-process, by the command,
and by a real Celery worker). alice leads; bob, carol, dave and erin label."""

from __future__ import annotations

import random
import uuid
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from agreement.models import (
    AgreementRecompute,
    Conflict,
    ItemAgreement,
    ItemEvent,
    LabelOfRecord,
    ProjectAgreement,
    RaterQuality,
)
from agreement.rules import item_outcome
from agreement.services import recompute
from agreement.services.arrays import project_annotations
from agreement.services.evaluation import api_value, project_rule, votes_of
from agreement.services.recompute import (
    agreement_recompute_request,
    agreement_recompute_run,
)
from core.jobs.models import JobStatus
from core.jobs.services import JobProgress
from labeling.assignment import item_claim
from labeling.services import annotation_submit
from projects.models import AgreementRule, Item, ItemStatus, LabelKind, Project
from tests.conftest import wait_for
from tests.factories import UserFactory, make_items, make_project

VALUES = {
    LabelKind.SINGLE: lambda rng: rng.choice(["positive", "negative", "neutral"]),
    LabelKind.RATING: lambda rng: rng.randint(1, 5),
    LabelKind.MULTI: lambda rng: sorted(
        rng.sample(["positive", "negative", "neutral"], rng.randint(0, 2))
    ),
}


@pytest.fixture
def raters(db) -> list[Any]:
    return [UserFactory(username=name) for name in ("bob", "carol", "dave", "erin")]


def labeled_project(
    alice: Any, raters: list[Any], *, kind: str, rule: str, items: int = 30, seed: int = 7,
    threshold: float = 0.66,
) -> Project:  # fmt: skip
    """A project whose raters label every item through the labeling services, at random (and
    biased towards agreeing, so that all outcomes occur)."""
    project = make_project(
        lead=alice, raters=raters, raters_per_item=3, label_kind=kind, agreement_rule=rule,
        agreement_threshold=threshold, name=f"{kind} {rule}",
    )  # fmt: skip
    make_items(project, items)
    rng = random.Random(seed)
    favourite: dict[int, Any] = {}
    for rater in raters:
        while holds := item_claim(project=project, rater=rater, hold=1):
            item_id = holds[0].item.pk
            value = favourite.setdefault(item_id, VALUES[kind](rng))
            if rng.random() < 0.35:
                value = VALUES[kind](rng)
            annotation_submit(
                project=project, item_id=item_id, rater=rater, value=value, client_id=uuid.uuid4()
            )
    return project


def snapshot(project: Project) -> dict[int, tuple[Any, ...]]:
    agreements = {
        a.item_id: (a.consensus, a.passes, a.tie, a.method, round(a.confidence or 0, 9),
                    None if a.observed is None else round(a.observed, 9), a.n_annotations,
                    a.label_pair, sorted(a.annotation_ids))
        for a in ItemAgreement.objects.filter(project=project)
    }  # fmt: skip
    records = {
        r.item_id: (r.value, r.source) for r in LabelOfRecord.objects.filter(project=project)
    }
    conflicts = dict(Conflict.objects.filter(project=project).values_list("item_id", "status"))
    statuses = dict(Item.objects.filter(project=project).values_list("pk", "status"))
    return {
        pk: (statuses[pk], agreements.get(pk), records.get(pk), conflicts.get(pk))
        for pk in statuses
    }


def forget_the_live_evaluation(project: Project) -> None:
    """As if the items had been labeled by a path that never evaluated them."""
    ItemAgreement.objects.filter(project=project).delete()
    LabelOfRecord.objects.filter(project=project).delete()
    Conflict.objects.filter(project=project).delete()
    ItemEvent.objects.filter(project=project).delete()
    Item.objects.filter(project=project, annotation_count__gte=3).update(status=ItemStatus.LABELED)


def run(project: Project) -> AgreementRecompute:
    job = agreement_recompute_request(project=project, requested_by=None, enqueue=False)
    return agreement_recompute_run(job_id=job.pk)


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        (LabelKind.SINGLE, AgreementRule.MAJORITY),
        (LabelKind.SINGLE, AgreementRule.UNANIMOUS),
        (LabelKind.SINGLE, AgreementRule.MIN_SHARE),
        (LabelKind.RATING, AgreementRule.MAJORITY),
        (LabelKind.MULTI, AgreementRule.MAJORITY),
        (LabelKind.MULTI, AgreementRule.MIN_SHARE),
        (LabelKind.MULTI, AgreementRule.UNANIMOUS),
    ],
)
def test_the_recompute_reaches_what_the_live_evaluation_did_item_by_item(alice, raters, kind, rule):
    project = labeled_project(alice, raters, kind=kind, rule=rule)
    live = snapshot(project)
    outcomes = {state[0] for state in live.values()}
    assert ItemStatus.AGREED in outcomes, "the random project should have agreed items"

    forget_the_live_evaluation(project)
    job = run(project)

    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.items_changed == 30
    assert snapshot(project) == live
    conflicts = Conflict.objects.filter(project=project)
    lines = ItemEvent.objects.filter(project=project).values_list("item_id", "message")
    assert sorted(item for item, _ in lines) == sorted(c.item_id for c in conflicts)
    assert all(line.startswith("Became a conflict after a full recompute: ") for _, line in lines)


def test_a_second_recompute_changes_nothing(alice, raters):
    project = labeled_project(alice, raters, kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY)
    before = snapshot(project)

    first, second = run(project), run(project)

    assert (first.items_changed, second.items_changed) == (0, 0)
    assert snapshot(project) == before
    assert AgreementRecompute.objects.filter(project=project).count() == 2


@pytest.mark.parametrize("item_by_item", [True, False], ids=["item-by-item", "set-based"])
def test_an_item_relabeled_during_a_recompute_is_left_to_the_live_evaluation(
    alice, raters, item_by_item
):
    project = labeled_project(alice, raters, kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY)
    forget_the_live_evaluation(project)
    counters = recompute._item_counters(project)
    annotations = project_annotations(project)
    model = recompute.label_model_fit(project, annotations)
    decisions = recompute._decisions(project, annotations, model)
    # bob changes a label after the recompute read the project: the live path evaluates it.
    annotation = project.annotations.filter(rater__username="bob").first()
    assert annotation is not None
    other = "negative" if annotation.value != "negative" else "positive"
    annotation_submit(
        project=project, item_id=annotation.item_id, rater=annotation.rater, value=other,
        client_id=uuid.uuid4(),
    )  # fmt: skip
    fresh = ItemAgreement.objects.get(item_id=annotation.item_id)

    batch = recompute._changed(project, annotations, decisions, model.method, counters)
    from django.utils import timezone

    if item_by_item:
        written = recompute._write_batch(
            project, annotations, decisions, model, counters, batch, timezone.now()
        )
    else:  # set-based on PostgreSQL (agreement.services.bulk), item by item elsewhere
        job = AgreementRecompute.objects.create(project=project)
        written = recompute._write(
            project, annotations, decisions, model, counters, batch, timezone.now(),
            JobProgress(job),
        )  # fmt: skip

    assert written == len(batch) - 1
    kept = ItemAgreement.objects.get(item_id=annotation.item_id)
    assert (kept.consensus, kept.evaluated_at) == (fresh.consensus, fresh.evaluated_at)


def test_the_recompute_keeps_figures_and_scorecards(alice, raters):
    project = labeled_project(alice, raters, kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY)
    run(project)

    summary = ProjectAgreement.objects.get(project=project).summary
    # The first three raters' queues held every item: erin, last, found none left.
    assert (summary["items"], summary["annotations"], summary["raters"]) == (30, 90, 3)
    assert 0 < summary["observed_agreement"]["value"] <= 1
    assert summary["observed_agreement"]["items"] == 30
    assert (
        sum(sum(row) for row in summary["confusion"]["matrix"])
        == summary["confusion"]["annotations"]
    )
    assert [label["value"] for label in summary["per_label"]] == ["positive", "negative", "neutral"]
    cards = {card.rater.username: card for card in RaterQuality.objects.filter(project=project)}
    assert set(cards) == {"bob", "carol", "dave"}
    assert sum(card.annotations for card in cards.values()) == 90
    for card in cards.values():
        assert card.loo_agreement is None or 0 <= card.loo_agreement <= 1


def test_the_command_runs_a_recompute_with_its_summary_line(alice, raters):
    project = labeled_project(alice, raters, kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY)
    out = StringIO()

    call_command("agreement_recompute", str(project.pk), stdout=out)

    assert "30 items and 90 annotations computed; 0 items changed." in out.getvalue()
    assert AgreementRecompute.objects.get(project=project).status == JobStatus.SUCCEEDED


def test_a_second_request_joins_the_live_recompute(alice, raters):
    project = labeled_project(alice, raters, kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY)
    first = agreement_recompute_request(project=project, requested_by=alice, enqueue=False)
    again = agreement_recompute_request(project=project, requested_by=alice, enqueue=False)
    assert again.pk == first.pk


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_recompute(celery_worker_process, alice, raters):
    project = labeled_project(alice, raters, kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY)
    forget_the_live_evaluation(project)

    job = agreement_recompute_request(project=project, requested_by=alice)

    def finished() -> bool:
        job.refresh_from_db()
        return job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    wait_for(finished, timeout=60)
    assert job.status == JobStatus.SUCCEEDED, job.message
    assert job.items_changed == 30
    assert not Item.objects.filter(project=project, status=ItemStatus.LABELED).exists()


@pytest.mark.parametrize(
    ("kind", "rule", "threshold"),
    [
        (LabelKind.SINGLE, AgreementRule.DAWID_SKENE, 0.9),
        (LabelKind.RATING, AgreementRule.DAWID_SKENE, 0.999),
        (LabelKind.SINGLE, AgreementRule.WEIGHTED, 0.85),
    ],
)
def test_a_label_model_rule_gives_live_what_the_recompute_found(
    alice, raters, kind, rule, threshold
):
    """After a recompute has fitted the model, the live evaluation of an item (one E-step with
    the kept parameters) reaches the recompute's outcome: the same threshold means the same on
    both paths."""
    project = labeled_project(alice, raters, kind=kind, rule=rule, threshold=threshold, items=40)
    forget_the_live_evaluation(project)
    run(project)
    rule_now = project_rule(project)
    assert rule_now.model, "the recompute kept the fitted model"

    stored = {a.item_id: a for a in ItemAgreement.objects.filter(project=project)}
    votes = votes_of(project, list(stored))
    methods = set()
    for item_id, agreement in stored.items():
        outcome = item_outcome(votes[item_id], rule_now)
        methods.add(outcome.method)
        assert api_value(outcome.consensus) == agreement.consensus, item_id
        assert outcome.confidence == pytest.approx(agreement.confidence, abs=1e-9)
        assert outcome.passes == agreement.passes
    assert methods == {rule}
    assert {a.passes for a in stored.values()} == {True, False}, "both outcomes should occur"


def test_a_new_rule_decides_the_items_anew_through_a_recompute(alice, raters):
    project = labeled_project(alice, raters, kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY)
    split = list(
        Item.objects.filter(project=project, agreement__passes=True)
        .exclude(agreement__confidence=1.0)
        .values_list("pk", flat=True)
    )
    assert split, "some item should pass by majority without all raters agreeing"
    from projects.services.projects import project_update

    project_update(project=project, agreement_rule=AgreementRule.UNANIMOUS)
    job = AgreementRecompute.objects.get(project=project)
    agreement_recompute_run(job_id=job.pk)

    statuses = set(Item.objects.filter(pk__in=split).values_list("status", flat=True))
    assert statuses == {ItemStatus.CONFLICT}
    assert Conflict.objects.filter(project=project, item__in=split).count() == len(split)


def test_a_setting_that_decides_nothing_starts_no_recompute(alice, raters):
    project = labeled_project(alice, raters, kind=LabelKind.SINGLE, rule=AgreementRule.MAJORITY)
    from projects.services.projects import project_update

    project_update(project=project, instructions="Read twice.")
    project_update(project=project, agreement_rule=AgreementRule.MAJORITY)

    assert not AgreementRecompute.objects.filter(project=project).exists()
