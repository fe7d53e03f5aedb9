"""The rater's progress figures."""

from __future__ import annotations

import time
import uuid

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
    cache.set(key, (value, time.time() - age), timeout=None)
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

    key = f"accord:project:{project.pk}:remaining"
    value, _counted_at = cache.get(key)
    cache.set(key, (value, 0.0), timeout=None)  # now stale
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
    key = f"accord:project:{project.pk}:remaining"
    value, counted_at = progress._remaining_seen[key]
    progress._remaining_seen[key] = (value, counted_at - 61)  # the copy is now stale
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
