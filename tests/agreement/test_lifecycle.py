"""The live evaluation and the conflict lifecycle, through the real services: alice leads the
project, bob, carol and dave label (k = 3), and every label goes in through a claim and a
submit as on the labeling page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection

from agreement.models import (
    Conflict,
    ConflictStatus,
    ItemAgreement,
    ItemEvent,
    LabelOfRecord,
    LabelSource,
    Resolution,
    ResolutionAction,
)
from agreement.services.conflicts import (
    conflict_mark_ambiguous,
    conflict_more_raters,
    conflict_next,
    conflict_reopen,
    conflict_resolve,
)
from agreement.services.evaluation import items_evaluate
from core.errors import Conflict as StateConflict
from labeling.assignment import item_claim
from labeling.counters import counters_recount
from labeling.errors import ItemClosed
from labeling.services import annotation_submit
from projects.models import AgreementRule, Item, ItemStatus, Project
from projects.services.items import item_update
from tests.factories import UserFactory, make_items, make_project


@pytest.fixture
def dave(db):
    return UserFactory(username="dave")


@pytest.fixture
def erin(db):
    return UserFactory(username="erin")


@pytest.fixture
def sentiment(alice, bob, carol, dave, erin) -> Project:
    return make_project(lead=alice, raters=[bob, carol, dave, erin], raters_per_item=3)


def label(project: Project, rater: Any, item: Item, value: Any) -> None:
    """The rater claims items until they hold `item`, and labels it."""
    holds = item_claim(project=project, rater=rater, hold=3)
    assert item.pk in {hold.item.pk for hold in holds}, "the rater's queue did not offer the item"
    annotation_submit(
        project=project, item_id=item.pk, rater=rater, value=value, client_id=uuid.uuid4()
    )


def state(item: Item) -> tuple[str, Any]:
    item.refresh_from_db()
    record = LabelOfRecord.objects.filter(item=item).first()
    return item.status, (record.value, record.source) if record else None


def test_two_of_three_agree_under_the_majority_rule(sentiment, bob, carol, dave):
    [item] = make_items(sentiment, 1)
    label(sentiment, bob, item, "positive")
    label(sentiment, carol, item, "positive")
    assert state(item) == (ItemStatus.IN_PROGRESS, None)  # not all in: nothing decided
    assert not ItemAgreement.objects.filter(item=item).exists()
    label(sentiment, dave, item, "negative")

    assert state(item) == (ItemStatus.AGREED, ("positive", LabelSource.CONSENSUS))
    agreement = ItemAgreement.objects.get(item=item)
    assert agreement.passes and agreement.confidence == pytest.approx(2 / 3)
    assert agreement.observed == pytest.approx(1 / 3)  # one agreeing pair of three
    assert agreement.label_pair == "negative | positive"
    record = LabelOfRecord.objects.get(item=item)
    assert record.method == "majority" and len(record.annotations) == 3
    assert not Conflict.objects.exists()


def test_a_three_way_split_is_a_conflict_and_never_the_first_label(sentiment, bob, carol, dave):
    [item] = make_items(sentiment, 1)
    for rater, value in ((bob, "positive"), (carol, "negative"), (dave, "neutral")):
        label(sentiment, rater, item, value)

    assert state(item) == (ItemStatus.CONFLICT, None)
    agreement = ItemAgreement.objects.get(item=item)
    assert agreement.tie and agreement.consensus is None and not agreement.passes
    conflict = Conflict.objects.get(item=item)
    assert conflict.status == ConflictStatus.OPEN and conflict.observed == 0
    [event] = ItemEvent.objects.filter(item=item)
    assert "Became a conflict after a new label: a tie" in event.message


def test_the_stricter_rules(alice, bob, carol, dave):
    unanimous = make_project(
        lead=alice, raters=[bob, carol, dave], raters_per_item=3,
        agreement_rule=AgreementRule.UNANIMOUS, name="Unanimous",
    )  # fmt: skip
    share = make_project(
        lead=alice, raters=[bob, carol, dave], raters_per_item=3,
        agreement_rule=AgreementRule.MIN_SHARE, agreement_threshold=0.9, name="Share",
    )  # fmt: skip
    for project in (unanimous, share):
        [item] = make_items(project, 1)
        for rater, value in ((bob, "positive"), (carol, "positive"), (dave, "negative")):
            label(project, rater, item, value)
        assert state(item) == (ItemStatus.CONFLICT, None), project.name


def test_resolving_chooses_the_label_of_record_and_closes_the_item(
    sentiment, alice, bob, carol, dave, erin
):
    [item] = make_items(sentiment, 1)
    for rater, value in ((bob, "positive"), (carol, "negative"), (dave, "neutral")):
        label(sentiment, rater, item, value)
    conflict = Conflict.objects.get(item=item)

    resolution = conflict_resolve(conflict=conflict, lead=alice, value="negative", note="sarcasm")

    assert state(item) == (ItemStatus.RESOLVED, ("negative", LabelSource.RESOLUTION))
    assert (resolution.action, resolution.value_before, resolution.value_after) == (
        ResolutionAction.RESOLVE, None, "negative",
    )  # fmt: skip
    assert resolution.lead == alice and resolution.note == "sarcasm"
    record = LabelOfRecord.objects.get(item=item)
    assert record.resolution == resolution and len(record.annotations) == 3
    # Raters can no longer change their labels on it, and nobody is given it again.
    with pytest.raises(ItemClosed):
        annotation_submit(
            project=sentiment, item_id=item.pk, rater=bob, value="negative",
            client_id=uuid.uuid4(),
        )  # fmt: skip
    assert item_claim(project=sentiment, rater=erin) == []
    with pytest.raises(StateConflict):
        conflict_resolve(conflict=conflict, lead=alice, value="positive")


def test_a_resolution_with_a_value_outside_the_schema_names_it(sentiment, alice, bob, carol, dave):
    [item] = make_items(sentiment, 1)
    for rater, value in ((bob, "positive"), (carol, "negative"), (dave, "neutral")):
        label(sentiment, rater, item, value)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="'joyful' is not a label"):
        conflict_resolve(conflict=Conflict.objects.get(item=item), lead=alice, value="joyful")
    assert state(item) == (ItemStatus.CONFLICT, None)
    assert not Resolution.objects.exists()


def test_one_more_rater_settles_the_conflict_when_the_new_label_breaks_the_tie(
    alice, bob, carol, dave
):
    project = make_project(lead=alice, raters=[bob, carol, dave], raters_per_item=2)
    [item] = make_items(project, 1)
    label(project, bob, item, "positive")
    label(project, carol, item, "negative")
    conflict = Conflict.objects.get(item=item)

    conflict_more_raters(conflict=conflict, lead=alice, note="need a tie-breaker")

    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.WAITING
    assert state(item) == (ItemStatus.IN_PROGRESS, None)
    # dave, who has not seen the item, gets it from his queue; bob and carol do not.
    assert item_claim(project=project, rater=bob) == []
    label(project, dave, item, "negative")

    assert state(item) == (ItemStatus.AGREED, ("negative", LabelSource.CONSENSUS))
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.SETTLED and conflict.closed_at is not None
    item.refresh_from_db()
    assert (item.annotation_count, item.extra_slots) == (3, 1)
    assert counters_recount(project=project, fix=False).changes == []
    messages = list(ItemEvent.objects.filter(item=item).values_list("message", flat=True))
    assert any("asked for one more rater. Note: need a tie-breaker" in m for m in messages)
    assert any("the raters agree: negative" in m for m in messages)


def test_one_more_rater_who_disagrees_again_reopens_it_for_the_lead(alice, bob, carol, dave):
    project = make_project(lead=alice, raters=[bob, carol, dave], raters_per_item=2)
    [item] = make_items(project, 1)
    label(project, bob, item, "positive")
    label(project, carol, item, "negative")
    conflict_more_raters(conflict=Conflict.objects.get(item=item), lead=alice)
    label(project, dave, item, "neutral")

    conflict = Conflict.objects.get(item=item)
    assert conflict.status == ConflictStatus.OPEN
    assert state(item) == (ItemStatus.CONFLICT, None)
    assert conflict_next(project=project) == conflict


def test_ambiguous_items_have_no_label_of_record_and_reopening_brings_the_conflict_back(
    sentiment, alice, bob, carol, dave
):
    [item] = make_items(sentiment, 1)
    for rater, value in ((bob, "positive"), (carol, "negative"), (dave, "neutral")):
        label(sentiment, rater, item, value)
    conflict = Conflict.objects.get(item=item)

    conflict_mark_ambiguous(conflict=conflict, lead=alice, note="both readings hold")
    assert state(item) == (ItemStatus.RESOLVED, None)

    reopened = conflict_reopen(conflict=conflict, lead=alice)
    assert reopened.status_before == ConflictStatus.AMBIGUOUS
    assert state(item) == (ItemStatus.CONFLICT, None)
    conflict.refresh_from_db()
    assert (conflict.status, conflict.times_opened) == (ConflictStatus.OPEN, 2)
    # Resolve, reopen, resolve again: every decision is on record, in order.
    conflict_resolve(conflict=conflict, lead=alice, value="neutral")
    conflict_reopen(conflict=conflict, lead=alice)
    conflict_resolve(conflict=conflict, lead=alice, value="positive")
    assert state(item) == (ItemStatus.RESOLVED, ("positive", LabelSource.RESOLUTION))
    actions = list(conflict.resolutions.values_list("action", "value_before", "value_after"))
    assert actions == [
        ("ambiguous", None, None), ("reopen", None, None), ("resolve", None, "neutral"),
        ("reopen", "neutral", None), ("resolve", None, "positive"),
    ]  # fmt: skip


def test_an_edit_that_makes_raters_agree_settles_the_conflict(sentiment, bob, carol, dave):
    [item] = make_items(sentiment, 1)
    for rater, value in ((bob, "positive"), (carol, "negative"), (dave, "neutral")):
        label(sentiment, rater, item, value)
    annotation_submit(
        project=sentiment, item_id=item.pk, rater=dave, value="positive", client_id=uuid.uuid4()
    )

    assert state(item) == (ItemStatus.AGREED, ("positive", LabelSource.CONSENSUS))
    assert Conflict.objects.get(item=item).status == ConflictStatus.SETTLED
    # And an edit that breaks the agreement makes it a conflict again.
    annotation_submit(
        project=sentiment, item_id=item.pk, rater=dave, value="neutral", client_id=uuid.uuid4()
    )
    assert state(item) == (ItemStatus.CONFLICT, None)
    conflict = Conflict.objects.get(item=item)
    assert (conflict.status, conflict.times_opened) == (ConflictStatus.OPEN, 2)
    messages = list(ItemEvent.objects.filter(item=item).values_list("message", flat=True))
    assert "A conflict again after a rater changed their label" in messages[-1]


def test_a_gold_item_is_never_a_conflict_its_gold_answer_is_the_label_of_record(
    sentiment, alice, bob, carol, dave
):
    sentiment.gold_rate = 1.0
    sentiment.save(update_fields=["gold_rate"])
    [item] = make_items(sentiment, 1)
    item_update(item=item, gold_value="neutral", is_gold=True)
    for rater, value in ((bob, "positive"), (carol, "negative"), (dave, "neutral")):
        label(sentiment, rater, item, value)

    assert state(item) == (ItemStatus.AGREED, ("neutral", LabelSource.GOLD))
    assert not Conflict.objects.exists()
    assert ItemAgreement.objects.get(item=item).tie  # the raters still split three ways


def test_the_next_conflict_is_the_one_with_the_lowest_agreement(alice, bob, carol, dave):
    project = make_project(lead=alice, raters=[bob, carol, dave], raters_per_item=3)
    split, close = make_items(project, 2)
    for rater, value in ((bob, "positive"), (carol, "negative"), (dave, "neutral")):
        label(project, rater, split, value)
    project.agreement_rule = AgreementRule.UNANIMOUS
    project.save(update_fields=["agreement_rule"])
    for rater, value in ((bob, "positive"), (carol, "positive"), (dave, "neutral")):
        label(project, rater, close, value)

    first = conflict_next(project=project)
    assert first is not None and first.item_id == split.pk
    second = conflict_next(project=project, after=first)
    assert second is not None and second.item_id == close.pk


def test_a_multi_label_history_line_names_the_labels_not_a_list(alice, bob, carol, dave):
    project = make_project(
        lead=alice, raters=[bob, carol, dave], raters_per_item=3, label_kind="multi",
        agreement_rule=AgreementRule.UNANIMOUS,
    )  # fmt: skip
    [item] = make_items(project, 1)
    for rater, value in ((bob, ["positive"]), (carol, ["positive", "neutral"]), (dave, [])):
        label(project, rater, item, value)
    annotation_submit(
        project=project, item_id=item.pk, rater=dave, value=["positive"], client_id=uuid.uuid4()
    )
    messages = list(ItemEvent.objects.filter(item=item).values_list("message", flat=True))
    assert messages, "the conflict and the change are in the item's history"
    assert not any("[" in message for message in messages), messages


@pytest.mark.parametrize(
    "values", [("positive", "positive", "negative"), ("positive", "negative", "neutral")],
    ids=["agreed", "conflict"],
)  # fmt: skip
def test_the_last_labels_evaluation_is_two_round_trips_on_postgresql(
    sentiment, bob, carol, dave, values, django_assert_num_queries
):
    """One read of the item's state and votes, one statement for its outcome, label of record
    or new conflict and history line, and its status: the submit of an item's last label pays
    for no more (elsewhere, the writes go one statement each)."""
    if connection.vendor != "postgresql":
        pytest.skip("the writes are data-modifying CTEs of one statement on PostgreSQL only")
    [item] = make_items(sentiment, 1)
    label(sentiment, bob, item, values[0])
    label(sentiment, carol, item, values[1])
    label(sentiment, dave, item, values[2])
    ItemAgreement.objects.filter(item=item).delete()
    LabelOfRecord.objects.filter(item=item).delete()
    Conflict.objects.filter(item=item).delete()
    Item.objects.filter(pk=item.pk).update(status=ItemStatus.LABELED)

    with django_assert_num_queries(2):
        items_evaluate(project=sentiment, item_ids=[item.pk], reason="submit")

    assert Item.objects.get(pk=item.pk).status == (
        ItemStatus.AGREED if values[0] == values[1] else ItemStatus.CONFLICT
    )
