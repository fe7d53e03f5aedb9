"""The rater's progress figures."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest
from django.core.cache import cache

from labeling import progress
from labeling.progress import project_remaining
from tests.factories import make_items

pytestmark = pytest.mark.django_db


def stale_figure(project, value: int, *, age: float) -> str:
    """Share `value` as the project's remaining figure, counted `age` seconds ago, with no
    recount under way and no process holding a copy; returns the cache key."""
    key = progress._remaining_key(project.pk)
    figures = progress.Remaining(value, time.time() - age, rater_bases={}, newcomer=value)
    cache.set(key, figures.as_entry(), timeout=None)
    cache.delete(f"{key}:lock")
    progress._remaining_seen.clear()
    return key


def test_remaining_is_cached_and_only_one_request_recounts_a_stale_value(project, settings):
    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    cache.clear()
    make_items(project, 3)
    assert project_remaining(project=project) == 3
    make_items(project, 2, prefix="more")
    assert project_remaining(project=project) == 3, "fresh for 60 s: served from the cache"

    key = progress._remaining_key(project.pk)
    value, _counted_at, bases, newcomer = cache.get(key)
    cache.set(key, (value, 0.0, bases, newcomer), timeout=None)  # now stale
    progress._remaining_seen.clear()  # as seen by another process, which has no copy of its own
    cache.add(f"{key}:lock", 1)  # another request is recounting
    assert project_remaining(project=project) == 3, "stale value while someone else recounts"
    cache.delete(f"{key}:lock")
    assert project_remaining(project=project) == 5, "stale and unlocked: this request recounts"
    cache.clear()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_stale_remaining_count_is_answered_at_once_and_recounted_by_the_worker(
    transactional_db, celery_worker_process, alice, bob, settings
):
    """The request that finds the figure stale answers with it and the worker recounts (the
    rater does not wait for a count of the whole project); the cache they share is Redis, or
    files on the embedded default."""
    from tests.conftest import wait_for
    from tests.factories import make_project

    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    project = make_project(lead=alice, raters=[bob], name="Remaining")
    make_items(project, 3)
    key = progress._remaining_key(project.pk)
    cache.delete(key)
    cache.delete(f"{key}:lock")
    progress._remaining_seen.clear()
    assert project_remaining(project=project) == 3, "the first count is made in the request"
    make_items(project, 2, prefix="more")
    stale_figure(project, 3, age=61)

    assert project_remaining(project=project) == 3, "the stale figure, at once"
    wait_for(lambda: cache.get(key)[0] == 5, timeout=30)
    wait_for(lambda: cache.get(f"{key}:lock") is None, timeout=30)
    progress._remaining_seen.clear()
    assert project_remaining(project=project) == 5
    cache.delete(key)


def test_with_the_broker_unreachable_the_request_recounts(project, settings, monkeypatch):
    from kombu.exceptions import OperationalError

    from labeling import tasks

    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    make_items(project, 3)
    key = stale_figure(project, 1, age=61)

    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.project_remaining_recount_task, "apply_async", unreachable)
    assert project_remaining(project=project) == 3
    assert cache.get(f"{key}:lock") is None, "the recount lock is released"
    cache.delete(key)


def test_a_figure_no_worker_recounted_for_two_asks_is_counted_in_the_request(
    project, settings, monkeypatch
):
    from labeling import tasks

    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    make_items(project, 3)
    key = stale_figure(project, 1, age=60 + 2 * progress.REMAINING_LOCK_SECONDS + 1)
    queued: list[tuple] = []  # recorded, not raised: a failure to queue falls back to counting
    monkeypatch.setattr(
        tasks.project_remaining_recount_task, "apply_async", lambda *a, **k: queued.append(a)
    )
    assert project_remaining(project=project) == 3
    assert queued == [], "queued again although no worker took the last two"
    assert cache.get(f"{key}:lock") is None
    assert cache.get(key)[0] == 3
    cache.delete(key)


def test_a_process_keeps_its_copy_only_while_the_shared_value_is_fresh(project, settings):
    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    cache.clear()
    progress._remaining_seen.clear()
    make_items(project, 3)
    assert project_remaining(project=project) == 3
    key = progress._remaining_key(project.pk)
    copy = progress._remaining_seen[key]
    progress._remaining_seen[key] = replace(copy, counted_at=copy.counted_at - 61)  # now stale
    make_items(project, 2, prefix="more")
    cache.delete(key)
    assert project_remaining(project=project) == 5, "a stale copy is never served"
    cache.clear()


def test_the_raters_counts_follow_first_submits_only_and_today_starts_at_midnight(project, bob):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.assignment import item_claim, rater_claim
    from labeling.progress import rater_progress
    from labeling.services import annotation_submit

    make_items(project, 3)
    now = timezone.now()
    first, second = item_claim(project=project, rater=bob, hold=2, now=now)
    for hold in (first, second):
        annotation_submit(project=project, item_id=hold.item.pk, rater=bob, value="positive",
                          client_id=uuid.uuid4(), now=now)  # fmt: skip
    annotation_submit(project=project, item_id=first.item.pk, rater=bob, value="negative",
                      client_id=uuid.uuid4(), now=now)  # fmt: skip
    progress = rater_progress(project=project, rater=bob, now=now)
    assert (progress.mine_total, progress.mine_today) == (2, 2), "a change is not a new label"
    claim = rater_claim(project=project, rater=bob, now=now)
    assert (claim.labeled_total, claim.labeled_today) == (2, 2)

    tomorrow = now + timedelta(days=1)
    progress = rater_progress(project=project, rater=bob, now=tomorrow)
    assert (progress.mine_total, progress.mine_today) == (2, 0)
    third = claim.holds[0]
    annotation_submit(project=project, item_id=third.item.pk, rater=bob, value="positive",
                      client_id=uuid.uuid4(), now=tomorrow)  # fmt: skip
    progress = rater_progress(project=project, rater=bob, now=tomorrow)
    assert (progress.mine_total, progress.mine_today) == (3, 1)


def test_the_migration_counts_labels_stored_before_the_counters(project, bob, carol):
    import importlib
    from types import SimpleNamespace

    from django.db import connection

    from labeling.assignment import item_claim
    from labeling.services import annotation_submit
    from projects.models import Membership

    make_items(project, 3)
    for hold in item_claim(project=project, rater=bob, hold=3):
        annotation_submit(project=project, item_id=hold.item.pk, rater=bob, value="positive",
                          client_id=uuid.uuid4())  # fmt: skip
    Membership.objects.update(labeled_total=0, labeled_today=0, labeled_on=None)
    migration = importlib.import_module("projects.migrations.0003_membership_labeled_counts")
    migration.count_existing_labels(None, SimpleNamespace(connection=connection))
    counts = {m.user.username: (m.labeled_total, m.labeled_today)
              for m in Membership.objects.filter(project=project)}  # fmt: skip
    assert counts == {"alice": (0, 0), "bob": (3, 3), "carol": (0, 0)}


def test_a_member_removed_and_added_again_keeps_their_counts(project, bob):
    from labeling.assignment import item_claim
    from labeling.members import membership_remove, membership_set
    from labeling.progress import rater_progress
    from labeling.services import annotation_submit
    from projects.models import Membership, Role

    make_items(project, 2)
    hold = item_claim(project=project, rater=bob)[0]
    annotation_submit(project=project, item_id=hold.item.pk, rater=bob, value="positive",
                      client_id=uuid.uuid4())  # fmt: skip
    membership_remove(membership=Membership.objects.get(project=project, user=bob))
    membership_set(project=project, user=bob, role=Role.RATER)
    progress = rater_progress(project=project, rater=bob)
    assert (progress.mine_total, progress.mine_today) == (1, 1)


def test_a_label_stamped_before_midnight_committing_after_one_stamped_after_it(project, bob):
    from datetime import datetime, timedelta

    from django.utils import timezone

    from labeling.assignment import item_claim
    from labeling.progress import rater_progress
    from labeling.services import annotation_submit

    make_items(project, 2)
    midnight = timezone.make_aware(datetime(2026, 11, 24))
    first, second = item_claim(project=project, rater=bob, hold=2, now=midnight)
    after, before = midnight + timedelta(milliseconds=1), midnight - timedelta(milliseconds=1)
    for hold, at in ((first, after), (second, before)):  # the later stamp commits first
        annotation_submit(project=project, item_id=hold.item.pk, rater=bob, value="positive",
                          client_id=uuid.uuid4(), now=at)  # fmt: skip
    progress = rater_progress(project=project, rater=bob, now=after)
    assert (progress.mine_total, progress.mine_today) == (2, 1)


# --- what each rater could still label -------------------------------------------------------


def could_still_label(project, rater) -> int:
    """The figure by its definition, counted the slow way: regular items that still need a
    label, that the rater has not labeled or skipped, with a slot free or held by the rater."""
    from django.db.models import Exists, OuterRef, Q

    from labeling.models import Assignment, AssignmentStatus
    from labeling.selectors import OPEN_STATUSES
    from projects.models import Item

    rows = Assignment.objects.filter(item=OuterRef("pk"), rater=rater)
    did = rows.filter(status__in=(AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED))
    holds = rows.filter(status__in=(AssignmentStatus.LEASED, AssignmentStatus.ASSIGNED))
    return (
        Item.objects.filter(project=project, is_gold=False, status__in=OPEN_STATUSES)
        .exclude(Exists(did))
        .filter(Q(slots_taken__lt=project.raters_per_item) | Q(Exists(holds)))
        .count()
    )


def label(project, rater, hold) -> None:
    annotation_submit_now(project, rater, hold.item.pk)


def annotation_submit_now(project, rater, item_id: int) -> None:
    from labeling.services import annotation_submit

    annotation_submit(project=project, item_id=item_id, rater=rater, value="positive",
                      client_id=uuid.uuid4())  # fmt: skip


def test_each_raters_figure_is_what_they_could_still_label(project, alice, bob, carol):
    """k=2. bob labels two items and skips one; carol labels one of bob's and holds the other;
    an item held by bob and carol is full for dave but still theirs to label; dave has done
    nothing; a gold item counts for nobody."""
    from labeling.assignment import item_claim
    from labeling.members import membership_set
    from labeling.progress import rater_progress
    from labeling.services import item_skip
    from projects.models import Item, Role
    from tests.factories import UserFactory

    items = make_items(project, 8)
    Item.objects.filter(pk=items[-1].pk).update(is_gold=True, gold_value="positive")
    dave = UserFactory(username="dave")
    membership_set(project=project, user=dave, role=Role.RATER)
    first, second, third = item_claim(project=project, rater=bob, hold=3)
    label(project, bob, first)
    label(project, bob, second)
    item_skip(item=third.item, rater=bob)
    carol_holds = item_claim(project=project, rater=carol, hold=2)
    assert {h.item.pk for h in carol_holds} == {first.item.pk, second.item.pk}, "started first"
    label(project, carol, carol_holds[0])  # one item fully labeled: it leaves the figures
    shared = item_claim(project=project, rater=bob, hold=1)[0]  # bob's next item...
    carol_next = item_claim(project=project, rater=carol, hold=2)
    assert shared.item.pk in {h.item.pk for h in carol_next}, "...now full: carol holds it too"

    for rater in (alice, bob, carol, dave):
        progress = rater_progress(project=project, rater=rater)
        assert progress.mine_remaining == could_still_label(project, rater), rater.username
        assert progress.project_remaining == 6
    # Two items are full for dave: one bob labeled and carol holds, one bob and carol hold.
    assert rater_progress(project=project, rater=dave).mine_remaining == 4


def test_between_counts_a_raters_figure_follows_their_own_labels(project, bob, carol, settings):
    """The count is cached for a minute: bob's figure drops with each of his labels at once,
    while the project's figure waits for the next count."""
    from labeling.assignment import item_claim
    from labeling.progress import rater_progress

    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    cache.clear()
    make_items(project, 5)
    assert rater_progress(project=project, rater=bob).mine_remaining == 5
    for hold in item_claim(project=project, rater=bob, hold=2):
        label(project, bob, hold)
    figures = rater_progress(project=project, rater=bob)
    assert (figures.project_remaining, figures.mine_remaining) == (5, 3), "the 5: a count ago"
    assert could_still_label(project, bob) == 3

    cache.clear()
    progress._remaining_seen.clear()
    recounted = rater_progress(project=project, rater=bob)
    assert (recounted.project_remaining, recounted.mine_remaining) == (5, 3), "k=2: both open"
    cache.clear()


def test_the_claim_answers_both_figures_without_counting(project, bob, carol, settings):
    """The claim reads the cached count and the rater's labeled total it already holds: no
    count runs in it however much the rater has done, and an empty queue says 0."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    settings.ACCORD_PROGRESS_CACHE_SECONDS = 60
    cache.clear()
    make_items(project, 4)
    api = APIClient()
    api.force_authenticate(bob)

    def claim() -> dict:
        response = api.post(f"/api/v1/projects/{project.pk}/labeling/claim/", {"hold": 2},
                            format="json")  # fmt: skip
        assert response.status_code == 200, response.content
        return response.json()

    first = claim()
    assert first["progress"]["project_remaining"] == 4
    assert first["progress"]["mine_remaining"] == 4
    for hold in first["items"]:
        annotation_submit_now(project, bob, hold["item"]["id"])
    with CaptureQueriesContext(connection) as queries:
        second = claim()
    assert second["progress"]["mine_remaining"] == 2
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    for hold in second["items"]:
        annotation_submit_now(project, bob, hold["item"]["id"])
    last = claim()
    assert last["items"] == []
    assert last["progress"]["mine_remaining"] == 0, "an empty queue: nothing left for bob"
    assert last["progress"]["project_remaining"] == 4, "counted less than a minute ago"
    cache.clear()
