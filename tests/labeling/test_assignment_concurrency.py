"""The assignment engine under real concurrency: threads, each with its own database connection.

PostgreSQL is where the row locks (FOR UPDATE, SKIP LOCKED) matter, so most tests run only there.
SQLite serializes every write transaction (BEGIN IMMEDIATE); one simple race runs on it too.
Threads start together at a barrier; ordering between them uses events and `wait_for`, never sleep.

alice leads; the raters are rater0..rater7 (bob and carol in the two-party races).
"""

from __future__ import annotations

import queue
import random
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from labeling.assignment import item_claim, leases_reclaim_expired
from labeling.errors import LeaseExpired
from labeling.lead_assignment import items_assign
from labeling.models import Annotation, Assignment, AssignmentStatus
from labeling.services import annotation_submit, item_skip
from projects.models import Item, ItemStatus, Project
from tests.conftest import wait_for
from tests.factories import UserFactory, make_items, make_project
from tests.labeling.invariants import invariant_violations

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks (FOR UPDATE SKIP LOCKED) exist only on PostgreSQL; "
    "set DATABASE_URL=postgres://... to run this test",
)
THREAD_TIMEOUT = 120.0


def run_together(*workers: Callable[[], Any]) -> list[Any]:
    """Run each worker in its own thread (and so its own connection), released together by a
    barrier. Returns each worker's result, or the exception it raised."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(index: int, work: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=THREAD_TIMEOUT)
            results[index] = work()
        except BaseException as error:  # reported to the test thread
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair, daemon=True) for pair in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    return results


@contextmanager
def in_thread(work: Callable[[], Any]) -> Iterator[queue.Queue[Any]]:
    """Run `work` in a thread with its own connection; yield a queue that receives its result
    (or exception). The thread is joined when the block ends."""
    outcome: queue.Queue[Any] = queue.Queue()

    def run() -> None:
        try:
            outcome.put(work())
        except BaseException as error:
            outcome.put(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield outcome
    finally:
        thread.join(timeout=THREAD_TIMEOUT)
        assert not thread.is_alive(), "a worker thread hung"


def backend_pid() -> int:
    return int(connection.connection.info.backend_pid)


def waits_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0] == "Lock")


def unwrap(result: Any) -> Any:
    if isinstance(result, BaseException):
        raise result
    return result


def submit(item: Item, rater: Any, **kwargs: Any) -> Any:
    return annotation_submit(
        project=item.project, item_id=item.pk, rater=rater, value="positive",
        client_id=uuid.uuid4(), **kwargs,
    )  # fmt: skip


# --- many raters at once ------------------------------------------------------------------------


@postgres_only
def test_eight_raters_labeling_at_once_never_overfill_or_repeat_an_item():
    alice = UserFactory(username="alice")
    raters = [UserFactory(username=f"rater{n}") for n in range(8)]
    project = make_project(lead=alice, raters=raters, raters_per_item=3)
    items = make_items(project, 200)
    batch = [i.pk for i in random.Random(3).sample(items, 30)]

    def rater_loop(rater: Any, *, hold: int, skip_every: int) -> dict[str, int]:
        done = {"submitted": 0, "skipped": 0}
        for n in range(1, 400):
            holds = item_claim(project=project, rater=rater, hold=hold)
            if not holds:
                return done
            if skip_every and n % skip_every == 0:
                item_skip(item=holds[0].item, rater=rater, reason="stress")
                done["skipped"] += 1
            else:
                submit(holds[0].item, rater)
                done["submitted"] += 1
        raise AssertionError(f"{rater} never ran out of items")

    def lead_assigns() -> int:
        # A lead hands rater0 three batches while everyone claims.
        return sum(
            len(items_assign(project=project, rater=raters[0], assigned_by=alice,
                             item_ids=batch[n::3]).assigned)
            for n in range(3)
        )  # fmt: skip

    workers = [
        lambda r=rater, n=n: rater_loop(r, hold=2 if n % 2 else 1, skip_every=5 if n == 7 else 0)
        for n, rater in enumerate(raters)
    ]
    results = run_together(*workers, lead_assigns)
    done = [unwrap(r) for r in results[:-1]]
    unwrap(results[-1])

    assert invariant_violations(project) == []
    submitted = sum(d["submitted"] for d in done)
    assert Annotation.objects.filter(project=project).count() == submitted
    # A rater stops at the first empty claim, which can be early: the last free slot may be
    # leased by rater7, who then skips it. So each rater sweeps once more, one after the other;
    # no slot may have leaked, and every item ends with exactly k labels and nothing held.
    for rater in raters:
        submitted += rater_loop(rater, hold=1, skip_every=0)["submitted"]
    assert invariant_violations(project) == []
    assert Annotation.objects.filter(project=project).count() == submitted == 3 * len(items)
    assert not (
        Item.objects.filter(project=project)
        .exclude(status__in=[ItemStatus.AGREED, ItemStatus.CONFLICT])
        .exists()
    )
    assert not Assignment.objects.filter(
        project=project, status__in=(AssignmentStatus.LEASED, AssignmentStatus.ASSIGNED)
    ).exists()


def same_rater_claims_at_once(project: Project, bob: Any, *, tabs: int, rounds: int) -> None:
    for _ in range(rounds):
        results = [unwrap(r) for r in run_together(*[
            lambda: item_claim(project=project, rater=bob) for _ in range(tabs)
        ])]  # fmt: skip
        assert {len(holds) for holds in results} == {1}
        assert len({holds[0].assignment.pk for holds in results}) == 1
        assert Assignment.objects.filter(rater=bob, status=AssignmentStatus.LEASED).count() == 1
        submit(results[0][0].item, bob)
    assert invariant_violations(project) == []


@postgres_only
def test_one_rater_claiming_in_parallel_tabs_gets_one_lease():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    project = make_project(lead=alice, raters=[bob], raters_per_item=3)
    make_items(project, 20)
    same_rater_claims_at_once(project, bob, tabs=4, rounds=5)


@pytest.fixture
def sqlite_on_disk(tmp_path) -> Iterator[None]:
    """Move the SQLite test database from memory to a file for one test. The in-memory test
    database is shared between threads through SQLite's shared cache, which locks tables and
    fails at once ("database table is locked"); a file gets BEGIN IMMEDIATE and the busy timeout,
    as in production."""
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite variant of the race; on PostgreSQL the test above runs")
    if not connection.is_in_memory_db():
        yield
        return
    settings_dict = connection.settings_dict  # shared with every thread's new connection
    in_memory_name, path = settings_dict["NAME"], tmp_path / "race.sqlite3"
    connection.ensure_connection()
    on_disk = sqlite3.connect(path)
    connection.connection.backup(on_disk)
    on_disk.close()
    in_memory = connection.connection
    connection.connection = None  # the next query opens the file
    settings_dict["NAME"] = str(path)
    try:
        yield
    finally:
        connection.close()
        settings_dict["NAME"] = in_memory_name
        connection.connection = in_memory


def test_one_rater_claiming_in_parallel_tabs_gets_one_lease_on_sqlite(sqlite_on_disk):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    project = make_project(lead=alice, raters=[bob], raters_per_item=3)
    make_items(project, 10)
    same_rater_claims_at_once(project, bob, tabs=3, rounds=3)


# --- who waits for whom -------------------------------------------------------------------------


@postgres_only
def test_claims_of_different_raters_do_not_wait_for_each_other():
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=3)
    make_items(project, 5)
    bob_claimed, release = threading.Event(), threading.Event()

    def bob_claims_and_lingers() -> int:
        # bob's claim transaction stays open, holding every lock it took, until released.
        with transaction.atomic():
            [hold] = item_claim(project=project, rater=bob)
            bob_claimed.set()
            release.wait(timeout=THREAD_TIMEOUT)
        return hold.item.pk

    def carol_claims() -> int:
        with transaction.atomic():
            # Fail fast instead of queueing behind bob: that queue is the bug this test catches.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '3s'")
            [hold] = item_claim(project=project, rater=carol)
        return hold.item.pk

    with in_thread(bob_claims_and_lingers) as bob_result:
        try:
            assert bob_claimed.wait(timeout=THREAD_TIMEOUT)
            with in_thread(carol_claims) as carol_result:
                carol_item = unwrap(carol_result.get(timeout=THREAD_TIMEOUT))
        finally:
            release.set()
        bob_item = unwrap(bob_result.get(timeout=THREAD_TIMEOUT))
    # bob's item was row-locked while carol claimed: she skipped it rather than wait.
    assert carol_item != bob_item
    assert invariant_violations(project) == []


@postgres_only
def test_a_submit_that_locks_the_lease_first_beats_the_reclaim():
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=1)
    [item] = make_items(project, 1)
    t0 = timezone.now()
    item_claim(project=project, rater=bob, now=t0)
    late = t0 + timedelta(minutes=project.lease_minutes + 5)
    locked, release = threading.Event(), threading.Event()

    def bob_submits_slowly() -> Any:
        with transaction.atomic():
            result = submit(item, bob, now=late)
            locked.set()  # bob's submit holds the lease row now
            release.wait(timeout=THREAD_TIMEOUT)
        return result

    with in_thread(bob_submits_slowly) as bob_result:
        try:
            assert locked.wait(timeout=THREAD_TIMEOUT)
            # The reclaim skips the locked lease instead of waiting for it, so carol finds the
            # one item still held.
            assert item_claim(project=project, rater=carol, now=late) == []
        finally:
            release.set()
        assert unwrap(bob_result.get(timeout=THREAD_TIMEOUT)).created
    assert Annotation.objects.filter(item=item, rater=bob).exists()
    assert invariant_violations(project) == []


@postgres_only
def test_a_submit_that_comes_second_to_the_reclaim_takes_the_freed_slot_again():
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=1)
    [item] = make_items(project, 1)
    t0 = timezone.now()
    item_claim(project=project, rater=bob, now=t0)
    late = t0 + timedelta(minutes=project.lease_minutes + 5)
    reclaimed, release = threading.Event(), threading.Event()

    def reclaim_slowly() -> int:
        with transaction.atomic():
            count = leases_reclaim_expired(project=project, now=late)
            reclaimed.set()
            release.wait(timeout=THREAD_TIMEOUT)
        return count

    pid: queue.Queue[int] = queue.Queue()

    def bob_submits() -> Any:
        connection.ensure_connection()
        pid.put(backend_pid())
        return submit(item, bob, now=late)

    with in_thread(reclaim_slowly) as reclaim_result:
        try:
            assert reclaimed.wait(timeout=THREAD_TIMEOUT)
            with in_thread(bob_submits) as bob_result:
                # bob's submit queues on the lease row the reclaim holds...
                bob_pid = pid.get(timeout=THREAD_TIMEOUT)
                wait_for(lambda: waits_on_a_lock(bob_pid))
                release.set()
                # ...and, once the reclaim commits, finds it expired with its slot free: the
                # late label is kept and takes the slot again.
                assert unwrap(bob_result.get(timeout=THREAD_TIMEOUT)).created
        finally:
            release.set()
        assert unwrap(reclaim_result.get(timeout=THREAD_TIMEOUT)) == 1
    assert Annotation.objects.filter(item=item, rater=bob).exists()
    assert item_claim(project=project, rater=carol, now=late) == [], "k=1: the item is bob's"
    assert invariant_violations(project) == []


@postgres_only
def test_submit_racing_the_reclaim_of_its_expired_lease_has_exactly_one_winner():
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    outcomes = {"submit won": 0, "reclaim won": 0}
    for round_ in range(15):
        project = make_project(lead=alice, raters=[bob, carol], raters_per_item=1,
                               name=f"race {round_}")  # fmt: skip
        [item] = make_items(project, 1)
        t0 = timezone.now()
        item_claim(project=project, rater=bob, now=t0)
        late = t0 + timedelta(minutes=project.lease_minutes + 1)

        bob_result, carol_result = run_together(
            lambda: submit(item, bob, now=late),  # noqa: B023 (joined within the iteration)
            lambda: item_claim(project=project, rater=carol, now=late),  # noqa: B023
        )
        bob_labeled = Annotation.objects.filter(item=item, rater=bob).exists()
        carol_holds = [h.item.pk for h in unwrap(carol_result)]
        if isinstance(bob_result, LeaseExpired):
            # The reclaim won: bob's label was refused and the slot went to carol.
            assert (bob_labeled, carol_holds) == (False, [item.pk])
            outcomes["reclaim won"] += 1
        else:
            # The submit won: bob's label counts and the item (k=1) stays his.
            assert unwrap(bob_result).created
            assert (bob_labeled, carol_holds) == (True, [])
            outcomes["submit won"] += 1
        assert invariant_violations(project) == []
    assert sum(outcomes.values()) == 15


@postgres_only
def test_a_late_label_and_the_same_raters_reclaiming_claim_do_not_deadlock(monkeypatch):
    """The claim holds bob's membership row while it reclaims carol's expired lease on the
    item; bob's late label needs that item's slot again. Both take the membership row first,
    so the label waits for the claim instead of locking the item and deadlocking with it."""
    from labeling import assignment

    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    project = make_project(lead=alice, raters=[bob, carol], raters_per_item=2)
    [item] = make_items(project, 1)
    t0 = timezone.now()
    item_claim(project=project, rater=bob, now=t0)
    item_claim(project=project, rater=carol, now=t0 + timedelta(minutes=6))
    leases_reclaim_expired(project=project, now=t0 + timedelta(minutes=12))  # bob's only
    late = t0 + timedelta(minutes=17)  # carol's lease has expired too, not yet reclaimed
    in_reclaim, go_on = threading.Event(), threading.Event()
    reclaim = assignment.leases_reclaim_expired

    def reclaim_after_a_pause(**kwargs: Any) -> int:
        in_reclaim.set()  # the claim holds bob's membership row now
        go_on.wait(timeout=THREAD_TIMEOUT)
        return reclaim(**kwargs)

    monkeypatch.setattr(assignment, "leases_reclaim_expired", reclaim_after_a_pause)
    with in_thread(lambda: item_claim(project=project, rater=bob, now=late)) as claimed:
        assert in_reclaim.wait(timeout=THREAD_TIMEOUT)
        pid: queue.Queue[int] = queue.Queue()

        def bob_submits_late() -> Any:
            connection.ensure_connection()
            pid.put(backend_pid())
            return submit(item, bob, now=late)

        with in_thread(bob_submits_late) as submitted:
            submit_pid = pid.get(timeout=THREAD_TIMEOUT)
            wait_for(lambda: waits_on_a_lock(submit_pid))  # the label waits for the claim
            go_on.set()
            result = unwrap(submitted.get(timeout=THREAD_TIMEOUT))
        holds = unwrap(claimed.get(timeout=THREAD_TIMEOUT))
    assert result.created and [h.item.pk for h in holds] in ([item.pk], [])
    assert invariant_violations(project) == []
