"""The assignment engine: which item a rater gets next, leases, submits and skips.

alice leads the project; bob, carol and dave rate in it; mallory belongs to another project.
Time passes through `now=`, never through sleep. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from labeling import assignment
from labeling.assignment import (
    MAX_HOLD,
    Hold,
    item_claim,
    lease_renew,
    leases_tidy,
)
from labeling.errors import ItemClosed, LeaseExpired, NoLease, NotAMember
from labeling.lead_assignment import items_assign
from labeling.models import Annotation, AnnotationRevision, Assignment, AssignmentStatus
from labeling.selectors import annotation_gold_correct
from labeling.services import annotation_submit, item_skip
from projects.models import Item, ItemStatus, Membership, Project
from projects.services.items import item_update
from projects.services.projects import item_priority_set
from tests.factories import UserFactory, make_items, make_project
from tests.labeling.invariants import invariant_violations

LEASE = timedelta(minutes=10)


@pytest.fixture
def dave(db):
    return UserFactory(username="dave")


def sentiment(alice: Any, raters: list[Any], **fields: Any) -> Project:
    fields.setdefault("raters_per_item", 3)
    return make_project(lead=alice, raters=raters, **fields)


def claim_one(project: Project, rater: Any, **kwargs: Any) -> Hold | None:
    holds = item_claim(project=project, rater=rater, **kwargs)
    assert len(holds) <= 1
    return holds[0] if holds else None


def submit(item: Item, rater: Any, value: Any = "positive", **kwargs: Any) -> Any:
    kwargs.setdefault("client_id", uuid.uuid4())
    return annotation_submit(
        project=item.project, item_id=item.pk, rater=rater, value=value, **kwargs
    )


def label_everything(project: Project, rater: Any, *, limit: int = 1000) -> list[int]:
    """The rater claims and submits until their queue is empty; returns the item ids in order."""
    seen = []
    for _ in range(limit):
        hold = claim_one(project, rater)
        if hold is None:
            return seen
        submit(hold.item, rater)
        seen.append(hold.item.pk)
    raise AssertionError(f"the queue did not run dry within {limit} claims")


def item_ids(holds: list[Hold]) -> list[int]:
    return [h.item.pk for h in holds]


def assert_consistent(project: Project) -> None:
    assert invariant_violations(project) == []


# --- what a rater gets ------------------------------------------------------------------------


def test_the_next_item_is_never_one_the_rater_labeled_or_skipped(alice, bob):
    project = sentiment(alice, [bob])
    items = make_items(project, 8)
    labeled, skipped = [], []
    for n in range(6):
        hold = claim_one(project, bob)
        assert hold is not None
        assert hold.item.pk not in labeled + skipped
        if n % 3 == 2:
            item_skip(item=hold.item, rater=bob, reason="unclear")
            skipped.append(hold.item.pk)
        else:
            submit(hold.item, bob)
            labeled.append(hold.item.pk)
    rest = label_everything(project, bob)
    assert sorted(labeled + skipped + rest) == sorted(i.pk for i in items)
    assert claim_one(project, bob) is None
    assert_consistent(project)


def test_an_item_never_has_more_than_k_holders(alice, bob, carol, dave):
    erin = UserFactory(username="erin")
    project = sentiment(alice, [bob, carol, dave, erin], raters_per_item=2)
    make_items(project, 3)
    # bob and carol each hold all three items (current + two prefetched): six slots, all of them.
    assert len(item_claim(project=project, rater=bob, hold=3)) == 3
    assert len(item_claim(project=project, rater=carol, hold=3)) == 3
    assert item_claim(project=project, rater=dave, hold=3) == []
    # Submitting keeps the slot: still nothing for erin.
    for hold in item_claim(project=project, rater=bob, hold=3):
        submit(hold.item, bob)
    assert item_claim(project=project, rater=erin) == []
    assert set(Item.objects.filter(project=project).values_list("slots_taken", flat=True)) == {2}
    assert_consistent(project)


def test_reloading_returns_the_same_lease(alice, bob):
    project = sentiment(alice, [bob])
    make_items(project, 5)
    first = claim_one(project, bob)
    again = claim_one(project, bob)
    assert first is not None and again is not None
    assert again.assignment.pk == first.assignment.pk
    assert again.item.pk == first.item.pk
    assert Assignment.objects.filter(rater=bob).count() == 1
    assert Item.objects.get(pk=first.item.pk).slots_taken == 1


def test_hold_two_returns_the_current_item_and_one_more_in_a_stable_order(alice, bob):
    project = sentiment(alice, [bob])
    make_items(project, 6)
    [current] = item_claim(project=project, rater=bob, hold=1)
    two = item_claim(project=project, rater=bob, hold=2)
    assert len(two) == 2
    assert two[0].assignment.pk == current.assignment.pk
    assert item_ids(item_claim(project=project, rater=bob, hold=2)) == item_ids(two)
    # Asking for one again returns the item on screen, not the prefetched one.
    assert item_ids(item_claim(project=project, rater=bob, hold=1)) == [current.item.pk]
    submit(current.item, bob)
    after = item_claim(project=project, rater=bob, hold=2)
    assert item_ids(after)[0] == two[1].item.pk
    assert len(after) == 2 and after[1].item.pk not in item_ids(two)
    # Never more than MAX_HOLD at once, whatever the client asks for.
    assert len(item_claim(project=project, rater=bob, hold=50)) == MAX_HOLD
    assert Assignment.objects.filter(rater=bob, status=AssignmentStatus.LEASED).count() == MAX_HOLD


# --- leases expire ----------------------------------------------------------------------------


def test_an_expired_lease_is_reclaimed_at_the_next_claim_by_anyone(alice, bob, carol):
    project = sentiment(alice, [bob, carol], raters_per_item=1, lease_minutes=10)
    [item] = make_items(project, 1)
    t0 = timezone.now()
    bob_hold = claim_one(project, bob, now=t0)
    assert bob_hold is not None
    assert claim_one(project, carol, now=t0 + LEASE - timedelta(seconds=1)) is None
    carol_hold = claim_one(project, carol, now=t0 + LEASE + timedelta(seconds=1))
    assert carol_hold is not None and carol_hold.item.pk == item.pk
    bob_hold.assignment.refresh_from_db()
    assert bob_hold.assignment.status == AssignmentStatus.EXPIRED
    item.refresh_from_db()
    assert (item.slots_taken, item.status) == (1, ItemStatus.IN_PROGRESS)
    with pytest.raises(LeaseExpired) as error:
        submit(item, bob)
    assert error.value.status == 409
    submit(item, carol)
    assert_consistent(project)


def test_a_reclaimed_lease_frees_its_slot_even_when_the_claimer_gets_another_item(
    alice, bob, carol
):
    project = sentiment(alice, [bob, carol], raters_per_item=1)
    make_items(project, 3)
    t0 = timezone.now()
    bob_hold = claim_one(project, bob, now=t0)
    assert bob_hold is not None
    submit_elsewhere = claim_one(project, carol, now=t0 + 2 * LEASE)
    assert submit_elsewhere is not None
    bob_item = Item.objects.get(pk=bob_hold.item.pk)
    carol_holds_it = submit_elsewhere.item.pk == bob_item.pk
    assert bob_item.slots_taken == (1 if carol_holds_it else 0)
    assert bob_item.status == (ItemStatus.IN_PROGRESS if carol_holds_it else ItemStatus.OPEN)
    assert_consistent(project)


def test_a_submit_after_expiry_succeeds_while_no_claim_has_reclaimed_the_lease(alice, bob):
    project = sentiment(alice, [bob], raters_per_item=1)
    [item] = make_items(project, 1)
    t0 = timezone.now()
    claim_one(project, bob, now=t0)
    result = submit(item, bob, now=t0 + 3 * LEASE)
    assert result.created
    item.refresh_from_db()
    # One rater of one: the last label is in, and the item agrees with itself at once.
    assert (item.slots_taken, item.annotation_count, item.status) == (1, 1, ItemStatus.AGREED)
    assert_consistent(project)


def test_a_label_sent_after_the_lease_was_reclaimed_is_kept_while_a_slot_is_free(alice, bob, carol):
    project = sentiment(alice, [bob, carol], raters_per_item=1)
    first, second = make_items(project, 2)
    t0 = timezone.now()
    bob_hold = claim_one(project, bob, now=t0)
    assert bob_hold is not None
    # Bob's connection drops for longer than the lease; carol's claim reclaims his lease and
    # takes the other item, so bob's item still has its slot free.
    other = first if bob_hold.item.pk == second.pk else second
    Item.objects.filter(pk=other.pk).update(priority=10)  # carol's claim takes the other item
    carol_hold = claim_one(project, carol, now=t0 + 2 * LEASE)
    assert carol_hold is not None and carol_hold.item.pk == other.pk
    result = submit(bob_hold.item, bob, now=t0 + 2 * LEASE)
    assert result.created
    item = Item.objects.get(pk=bob_hold.item.pk)
    # One rater of one: the last label is in, and the item agrees with itself at once.
    assert (item.slots_taken, item.annotation_count, item.status) == (1, 1, ItemStatus.AGREED)
    assert_consistent(project)


def test_the_rater_whose_lease_expired_gets_a_fresh_lease_at_their_next_claim(alice, bob):
    project = sentiment(alice, [bob])
    make_items(project, 1)
    t0 = timezone.now()
    old = claim_one(project, bob, now=t0)
    new = claim_one(project, bob, now=t0 + LEASE + timedelta(seconds=1))
    assert old is not None and new is not None
    assert new.item.pk == old.item.pk, "the expired lease's item may go to the same rater again"
    assert new.assignment.pk == old.assignment.pk, "the unique (item, rater) row is reused"
    assert new.assignment.status == AssignmentStatus.LEASED
    assert new.assignment.expires_at == t0 + 2 * LEASE + timedelta(seconds=1)
    assert_consistent(project)


def test_renewing_a_lease_extends_it_until_it_is_reclaimed(alice, bob, carol):
    project = sentiment(alice, [bob, carol], raters_per_item=1)
    make_items(project, 1)
    t0 = timezone.now()
    hold = claim_one(project, bob, now=t0)
    assert hold is not None
    assert lease_renew(assignment=hold.assignment, now=t0 + LEASE - timedelta(seconds=1))
    # Renewed: carol's claim after the first expiry finds the item still held.
    assert claim_one(project, carol, now=t0 + LEASE + timedelta(seconds=1)) is None
    # Past its expiry but not reclaimed, the lease still holds its slot and can be renewed...
    assert lease_renew(assignment=hold.assignment, now=t0 + 3 * LEASE)
    # ...until a claim reclaims it: then the item is carol's and bob's renew fails.
    assert claim_one(project, carol, now=t0 + 5 * LEASE) is not None
    assert not lease_renew(assignment=hold.assignment, now=t0 + 5 * LEASE)


def test_the_periodic_tidy_reclaims_leases_where_nobody_claims(alice, bob, carol):
    quiet = sentiment(alice, [bob], name="Quiet")
    busy = sentiment(alice, [carol], name="Busy")
    make_items(quiet, 2)
    make_items(busy, 2)
    t0 = timezone.now()
    item_claim(project=quiet, rater=bob, hold=2, now=t0)
    item_claim(project=busy, rater=carol, now=t0)
    assert leases_tidy(now=t0 + LEASE - timedelta(seconds=1)) == 0
    assert leases_tidy(now=t0 + LEASE + timedelta(seconds=1)) == 3
    assert set(Assignment.objects.values_list("status", flat=True)) == {AssignmentStatus.EXPIRED}
    assert set(Item.objects.values_list("slots_taken", "status")) == {(0, ItemStatus.OPEN)}


# --- queue order --------------------------------------------------------------------------------


def test_queue_order_is_assigned_then_started_by_others_then_priority_then_shuffle(
    alice, bob, carol, dave
):
    project = sentiment(alice, [bob, carol, dave], raters_per_item=3)
    items = make_items(project, 12)
    by_shuffle = sorted(items, key=lambda i: (i.shuffle_key, i.pk))
    # Pick the roles from the end of the shuffle order, so that the order alone would not
    # produce the expected sequence.
    assigned, two_others, one_other, urgent, *rest = reversed(by_shuffle)
    items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[assigned.pk])
    items_assign(project=project, rater=carol, assigned_by=alice, item_ids=[two_others.pk])
    items_assign(project=project, rater=dave, assigned_by=alice, item_ids=[two_others.pk])
    items_assign(project=project, rater=carol, assigned_by=alice, item_ids=[one_other.pk])
    item_priority_set(project=project, keys=[urgent.key], priority=5.0)

    order = label_everything(project, bob)

    expected_head = [assigned.pk, two_others.pk, one_other.pk, urgent.pk]
    assert order[:4] == expected_head
    assert order[4:] == [i.pk for i in sorted(rest, key=lambda i: (i.shuffle_key, i.pk))]
    assert_consistent(project)


def test_a_lead_assigned_item_comes_first_even_while_others_are_started(alice, bob, carol):
    project = sentiment(alice, [bob, carol])
    make_items(project, 5)
    started = claim_one(project, carol)
    assert started is not None
    other = Item.objects.filter(project=project).exclude(pk=started.item.pk).last()
    assert other is not None
    items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[other.pk])
    hold = claim_one(project, bob)
    assert hold is not None
    assert (hold.item.pk, hold.assignment.status) == (other.pk, AssignmentStatus.ASSIGNED)
    submit(hold.item, bob)
    nxt = claim_one(project, bob)
    assert nxt is not None and nxt.item.pk == started.item.pk


def test_a_resolved_item_is_never_served(alice, bob):
    project = sentiment(alice, [bob])
    first, second = make_items(project, 2)
    # Stands in for the lead's resolve service (a later issue).
    Item.objects.filter(pk=first.pk).update(status=ItemStatus.RESOLVED)
    assert label_everything(project, bob) == [second.pk]


def test_raters_who_did_every_started_item_take_fresh_ones_and_still_converge(
    alice, bob, carol, monkeypatch
):
    """k=3 with only two raters: every item both labeled waits at two slots for good. Past a
    window of such items the claim looks level by level, so carol still gets the item bob just
    started rather than a fresh one of her own."""
    monkeypatch.setattr(assignment, "QUEUE_WINDOW", 4)
    project = sentiment(alice, [bob, carol], raters_per_item=3)
    make_items(project, 12)
    for _ in range(12):
        bob_hold = claim_one(project, bob)
        carol_hold = claim_one(project, carol)
        assert bob_hold is not None and carol_hold is not None
        assert carol_hold.item.pk == bob_hold.item.pk
        submit(bob_hold.item, bob)
        submit(carol_hold.item, carol)
    assert set(Item.objects.filter(project=project).values_list("slots_taken", flat=True)) == {2}
    assert claim_one(project, bob) is None and claim_one(project, carol) is None
    assert_consistent(project)


def test_a_started_item_past_every_window_is_served_once_no_fresh_item_is_left(
    alice, bob, carol, dave, monkeypatch
):
    monkeypatch.setattr(assignment, "QUEUE_WINDOW", 4)
    project = sentiment(alice, [bob, carol, dave], raters_per_item=3)
    *firsts, last = make_items(project, 6)
    item_priority_set(project=project, keys=[i.key for i in firsts], priority=5.0)
    for rater, items in ((bob, firsts), (carol, [*firsts, last]), (dave, [last])):
        items_assign(
            project=project, rater=rater, assigned_by=alice, item_ids=[i.pk for i in items]
        )
        for item in items:
            submit(item, rater)
    # Every item is started; bob did the five that come first in the queue, not the last one.
    hold = claim_one(project, bob)
    assert hold is not None and hold.item.pk == last.pk
    assert_consistent(project)


# --- gold items -------------------------------------------------------------------------------


def gold_project(alice: Any, raters: list[Any], *, gold: int, regular: int, **fields: Any):
    project = sentiment(alice, raters, **fields)
    make_items(project, regular)
    for item in make_items(project, gold, prefix="gold"):
        item_update(item=item, gold_value="positive", is_gold=True)
    return project


def test_gold_items_are_mixed_in_at_the_gold_rate(alice, bob):
    project = gold_project(alice, [bob], gold=80, regular=250, raters_per_item=1, gold_rate=0.2)
    rng = random.Random(20261123)
    gold_seen = 0
    for _ in range(200):
        hold = claim_one(project, bob, rng=rng)
        assert hold is not None
        gold_seen += hold.item.is_gold
        assert hold.assignment.is_gold == hold.item.is_gold
        submit(hold.item, bob)
    assert 0.12 <= gold_seen / 200 <= 0.28
    # Each gold item at most once per rater.
    gold_ids = Assignment.objects.filter(rater=bob, is_gold=True).values_list("item", flat=True)
    assert len(set(gold_ids)) == len(gold_ids) == gold_seen


def test_no_gold_item_is_ever_served_at_gold_rate_zero(alice, bob):
    project = gold_project(alice, [bob], gold=20, regular=60, raters_per_item=1, gold_rate=0.0)
    rng = random.Random(7)
    for _ in range(50):
        hold = claim_one(project, bob, rng=rng)
        assert hold is not None and not hold.item.is_gold
        submit(hold.item, bob)


def test_gold_items_are_outside_k_and_judged_against_the_current_answer(alice, bob, carol):
    project = gold_project(alice, [bob, carol], gold=1, regular=3, raters_per_item=1, gold_rate=1)
    bob_hold = claim_one(project, bob, rng=random.Random(1))
    carol_hold = claim_one(project, carol, rng=random.Random(1))
    assert bob_hold is not None and carol_hold is not None
    assert bob_hold.item.pk == carol_hold.item.pk and bob_hold.item.is_gold
    assert annotation_gold_correct(submit(bob_hold.item, bob, "positive").annotation) is True
    assert annotation_gold_correct(submit(carol_hold.item, carol, "negative").annotation) is False
    # Out of gold items for bob: he gets regular items, whose annotations carry no gold outcome.
    regular = claim_one(project, bob, rng=random.Random(1))
    assert regular is not None and not regular.item.is_gold
    assert annotation_gold_correct(submit(regular.item, bob).annotation) is None
    # Changing a gold label re-grades it.
    assert annotation_gold_correct(submit(carol_hold.item, carol, "positive").annotation) is True
    # A lead corrects the gold answer: every annotation is judged against the new one.
    item_update(item=Item.objects.get(pk=bob_hold.item.pk), gold_value="negative")
    bobs = Annotation.objects.select_related("item", "label").get(rater=bob, item=bob_hold.item)
    assert annotation_gold_correct(bobs) is False


# --- submit, change, skip -------------------------------------------------------------------------


def test_a_retried_submit_creates_nothing_new(alice, bob):
    project = sentiment(alice, [bob])
    make_items(project, 2)
    hold = claim_one(project, bob)
    assert hold is not None
    client_id = uuid.uuid4()
    first = submit(hold.item, bob, "positive", client_id=client_id)
    retry = submit(hold.item, bob, "positive", client_id=str(client_id))
    assert (first.created, first.replayed) == (True, False)
    assert (retry.created, retry.replayed) == (False, True)
    assert retry.annotation.pk == first.annotation.pk
    assert Annotation.objects.filter(rater=bob).count() == 1
    assert AnnotationRevision.objects.filter(annotation=first.annotation).count() == 1
    assert Item.objects.get(pk=hold.item.pk).annotation_count == 1


def test_another_raters_client_id_is_refused(alice, bob, carol):
    project = sentiment(alice, [bob, carol])
    make_items(project, 1)
    client_id = uuid.uuid4()
    bob_hold, carol_hold = claim_one(project, bob), claim_one(project, carol)
    assert bob_hold is not None and carol_hold is not None
    submit(bob_hold.item, bob, client_id=client_id)
    with pytest.raises(NoLease):
        submit(carol_hold.item, carol, client_id=client_id)
    assert not Annotation.objects.filter(rater=carol).exists(), "the refused submit left nothing"


def test_a_client_id_reused_for_another_item_is_refused_and_writes_nothing(alice, bob):
    project = sentiment(alice, [bob])
    make_items(project, 2)
    first, second = item_claim(project=project, rater=bob, hold=2)
    client_id = uuid.uuid4()
    submit(first.item, bob, client_id=client_id)
    with pytest.raises(NoLease, match="another submit"):
        submit(second.item, bob, "negative", client_id=client_id)
    assert list(Annotation.objects.filter(rater=bob).values_list("item_id", flat=True)) == [
        first.item.pk
    ]
    assert Item.objects.get(pk=second.item.pk).annotation_count == 0
    again = submit(second.item, bob, "negative")
    assert again.created, "the item is still the rater's to label"


def test_changing_a_label_adds_a_revision_and_keeps_the_annotation(alice, bob):
    project = sentiment(alice, [bob])
    make_items(project, 2)
    hold = claim_one(project, bob)
    assert hold is not None
    first = submit(hold.item, bob, "positive", time_spent_ms=1200)
    changed = submit(hold.item, bob, "negative", time_spent_ms=300)
    assert (changed.created, changed.replayed) == (False, False)
    assert changed.annotation.pk == first.annotation.pk
    annotation = Annotation.objects.get(pk=first.annotation.pk)
    assert (annotation.value, annotation.revision, annotation.time_spent_ms) == (
        "negative",
        2,
        1500,
    )
    revisions = AnnotationRevision.objects.filter(annotation=annotation).order_by("revision")
    assert [(r.revision, r.value) for r in revisions] == [(1, "positive"), (2, "negative")]
    item = Item.objects.get(pk=hold.item.pk)
    assert (item.annotation_count, item.slots_taken) == (1, 1)


def test_a_label_cannot_change_once_the_item_is_resolved(alice, bob):
    project = sentiment(alice, [bob])
    make_items(project, 1)
    hold = claim_one(project, bob)
    assert hold is not None
    submit(hold.item, bob, "positive")
    # Stands in for the lead's resolve service (a later issue).
    Item.objects.filter(pk=hold.item.pk).update(status=ItemStatus.RESOLVED)
    with pytest.raises(ItemClosed) as error:
        submit(hold.item, bob, "negative")
    assert error.value.status == 409
    assert Annotation.objects.get(rater=bob).value == "positive"


def test_a_submit_without_a_lease_is_refused(alice, bob, carol):
    project = sentiment(alice, [bob, carol])
    [item] = make_items(project, 1)
    with pytest.raises(NoLease) as error:
        submit(item, bob)
    assert error.value.status == 409
    assert not Annotation.objects.exists()


def test_skip_frees_the_slot_and_the_rater_never_gets_the_item_again(alice, bob, carol):
    project = sentiment(alice, [bob, carol], raters_per_item=1)
    [item] = make_items(project, 1)
    hold = claim_one(project, bob)
    assert hold is not None
    skipped = item_skip(item=item, rater=bob, reason="  not English  ")
    assert (skipped.status, skipped.skip_reason) == (AssignmentStatus.SKIPPED, "not English")
    item.refresh_from_db()
    assert (item.slots_taken, item.status) == (0, ItemStatus.OPEN)
    assert item_skip(item=item, rater=bob).pk == skipped.pk  # skipping twice is harmless
    assert claim_one(project, bob) is None
    carol_hold = claim_one(project, carol)
    assert carol_hold is not None and carol_hold.item.pk == item.pk
    assert_consistent(project)


def test_a_rater_may_go_back_and_label_an_item_they_skipped(alice, bob):
    project = sentiment(alice, [bob], raters_per_item=2)
    make_items(project, 2)
    hold = claim_one(project, bob)
    assert hold is not None
    item_skip(item=hold.item, rater=bob)
    assert submit(hold.item, bob, "neutral").created
    item = Item.objects.get(pk=hold.item.pk)
    assert (item.slots_taken, item.annotation_count, item.status) == (
        1, 1, ItemStatus.IN_PROGRESS
    )  # fmt: skip
    assert_consistent(project)


def test_going_back_to_a_skipped_item_fails_when_others_filled_it(alice, bob, carol):
    project = sentiment(alice, [bob, carol], raters_per_item=1)
    [item] = make_items(project, 1)
    claim_one(project, bob)
    item_skip(item=item, rater=bob)
    carol_hold = claim_one(project, carol)
    assert carol_hold is not None
    with pytest.raises(ItemClosed):
        submit(item, bob)
    assert_consistent(project)


# --- a lead's batch -----------------------------------------------------------------------------


def test_assigning_a_batch_reports_full_already_held_and_unknown(alice, bob, carol, mallory):
    project = sentiment(alice, [bob, carol], raters_per_item=1)
    first, second, third = make_items(project, 3)
    carol_hold = claim_one(project, carol)
    assert carol_hold is not None
    full = carol_hold.item
    free = [i for i in (first, second, third) if i.pk != full.pk]

    result = items_assign(
        project=project, rater=bob, assigned_by=alice,
        item_ids=[full.pk, free[0].pk, 987654321], keys=[free[1].key, "no-such-key"],
    )  # fmt: skip
    assert sorted(result.assigned) == sorted(i.pk for i in free)
    assert result.full == [full.pk]
    assert result.already_held == []
    assert sorted(result.unknown) == ["987654321", "no-such-key"]

    again = items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[free[0].pk])
    assert (again.assigned, again.already_held, again.full) == ([], [free[0].pk], [])
    assert Assignment.objects.get(item=free[0], rater=bob).status == AssignmentStatus.ASSIGNED
    with pytest.raises(NotAMember):
        items_assign(project=project, rater=mallory, assigned_by=alice, item_ids=[free[1].pk])
    assert_consistent(project)


def test_assigned_items_do_not_expire(alice, bob, carol):
    project = sentiment(alice, [bob, carol], raters_per_item=1)
    [item] = make_items(project, 1)
    items_assign(project=project, rater=bob, assigned_by=alice, item_ids=[item.pk])
    much_later = timezone.now() + timedelta(days=30)
    assert claim_one(project, carol, now=much_later) is None
    hold = claim_one(project, bob, now=much_later)
    assert hold is not None and hold.item.pk == item.pk
    assert submit(item, bob, now=much_later).created


# --- counters ---------------------------------------------------------------------------------


def test_counters_equal_the_rows_after_a_mix_of_operations(alice, bob, carol, dave):
    project = sentiment(alice, [bob, carol, dave], raters_per_item=2)
    items = make_items(project, 8)
    t0 = timezone.now()

    def at(minutes: float) -> datetime:
        return t0 + timedelta(minutes=minutes)

    for hold in item_claim(project=project, rater=bob, hold=2, now=at(0)):
        submit(hold.item, bob, now=at(1))
    assert_consistent(project)
    carol_first = claim_one(project, carol, now=at(1))
    assert carol_first is not None
    item_skip(item=carol_first.item, rater=carol, now=at(2))
    assert_consistent(project)
    # carol goes back to the item she skipped while it still has a free slot.
    submit(carol_first.item, carol, "negative", now=at(2))
    assert_consistent(project)
    items_assign(
        project=project, rater=carol, assigned_by=alice, item_ids=[items[-1].pk], now=at(2)
    )
    dave_holds = item_claim(project=project, rater=dave, hold=3, now=at(2))
    assert len(dave_holds) == 3
    assert_consistent(project)
    # bob takes one more and walks away; dave submits one of his and keeps the rest.
    bob_abandoned = claim_one(project, bob, now=at(3))
    assert bob_abandoned is not None
    submit(dave_holds[0].item, dave, now=at(4))
    # Much later carol claims: every lease is expired and reclaimed, the assignment stays.
    carol_hold = claim_one(project, carol, now=at(30))
    assert carol_hold is not None and carol_hold.item.pk == items[-1].pk
    assert not Assignment.objects.filter(project=project, status=AssignmentStatus.LEASED).exists()
    assert_consistent(project)
    submit(carol_hold.item, carol, now=at(31))
    # bob's label on the abandoned item arrives late: its slot is free again, so it is kept.
    assert submit(bob_abandoned.item, bob, now=at(31)).created
    assert_consistent(project)
    # bob changes his first label.
    bob_first = Annotation.objects.filter(rater=bob).order_by("pk").first()
    assert bob_first is not None
    submit(bob_first.item, bob, "neutral", now=at(33))
    label_everything(project, dave)
    label_everything(project, bob)
    assert_consistent(project)
    # Every item with its two labels in was evaluated at once: agreed or a conflict.
    done = Item.objects.filter(
        project=project, status__in=[ItemStatus.AGREED, ItemStatus.CONFLICT]
    ).count()
    assert done == Item.objects.filter(project=project, annotation_count=2).count() > 0


# --- query counts -------------------------------------------------------------------------------


def test_a_claim_is_a_handful_of_queries_however_long_the_queue(
    alice, bob, carol, django_assert_max_num_queries
):
    project = sentiment(alice, [bob, carol])
    make_items(project, 60)
    label_everything(project, carol)
    for _ in range(40):
        hold = claim_one(project, bob)
        assert hold is not None
        submit(hold.item, bob)
    project = Project.objects.get(pk=project.pk)
    # A new lease: reclaim, lock the membership, read holds, pick (here two windows: bob did
    # every item at two slots, so the one he gets is at one slot), take the slot, insert; plus
    # the savepoints of the test's enclosing transaction and of the insert (which falls back to
    # reviving the rater's expired lease on the item).
    with django_assert_max_num_queries(13):
        [first] = item_claim(project=project, rater=bob)
    # A reload: no pick at all.
    with django_assert_max_num_queries(7):
        [again] = item_claim(project=project, rater=bob)
    assert again.assignment.pk == first.assignment.pk
    # Two more prefetched: a few queries each (pick, slot, savepoint + insert), not a query
    # per candidate.
    with django_assert_max_num_queries(19):
        assert len(item_claim(project=project, rater=bob, hold=3)) == 3


def test_a_user_holding_items_cannot_be_deleted_until_removed_from_the_project(alice, bob):
    from django.db.models import ProtectedError

    from labeling.members import membership_remove

    project = sentiment(alice, [bob])
    make_items(project, 2)
    hold = claim_one(project, bob)
    assert hold is not None
    with pytest.raises(ProtectedError):
        bob.delete()
    assert Item.objects.get(pk=hold.item.pk).slots_taken == 1, "the slot still counts bob"
    membership_remove(membership=Membership.objects.get(project=project, user=bob))
    assert Item.objects.get(pk=hold.item.pk).slots_taken == 0
    bob.delete()  # nothing of his is left to protect
    assert not Assignment.objects.filter(item=hold.item).exists()
