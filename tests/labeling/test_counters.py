"""Recounting the labeling counters (`labeling.counters`, `manage.py recount_counters`).

alice leads the project (k=2); bob and carol rate. Drift is made the ways it happens outside the
application: counters written by an old worker during a deploy, rows deleted in the admin.
"""

from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from labeling import counters
from labeling.assignment import item_claim, leases_reclaim_expired
from labeling.counters import counters_recount
from labeling.models import Annotation, Assignment
from labeling.progress import rater_progress
from labeling.services import annotation_submit, item_skip
from projects.models import Item, ItemStatus, Membership, Project
from tests.factories import UserFactory, make_items, make_project
from tests.labeling.invariants import invariant_violations

pytestmark = pytest.mark.django_db


def label(project: Project, rater: Any, count: int = 1) -> list[Item]:
    """The rater claims and labels up to `count` items, one at a time; returns them."""
    items = []
    while len(items) < count and (holds := item_claim(project=project, rater=rater)):
        annotation_submit(project=project, item_id=holds[0].item.pk, rater=rater,
                          value="positive", client_id=uuid.uuid4())  # fmt: skip
        items.append(holds[0].item)
    return items


def counts(item: Item) -> tuple[int, int, str]:
    item.refresh_from_db()
    return item.slots_taken, item.annotation_count, item.status


def test_a_project_worked_through_the_application_has_nothing_to_repair(project, bob, carol):
    make_items(project, 6)
    shared = label(project, bob, 2)
    label(project, carol, 3)
    skipped = item_claim(project=project, rater=bob)[0]
    item_skip(item=skipped.item, rater=bob, reason="unclear")
    item_claim(project=project, rater=bob)  # a live lease
    assert any(counts(item)[2] in (ItemStatus.AGREED, ItemStatus.CONFLICT) for item in shared)

    report = counters_recount(project=project)

    assert report.changes == []
    assert (report.items_checked, report.memberships_checked) == (6, 3)
    assert invariant_violations(project) == []


def test_counters_an_old_worker_left_behind_are_repaired(project, bob, carol):
    make_items(project, 3)
    first, second = label(project, bob, 2)
    label(project, carol, 1)
    lease = item_claim(project=project, rater=carol)[0]
    # As if the labels had been written by a worker that did not keep the counters.
    Item.objects.filter(project=project).update(slots_taken=0, annotation_count=0, status="open")
    assert invariant_violations(project) != []

    report = counters_recount(project=project)

    assert report.fixed
    assert invariant_violations(project) == []
    both = first if counts(first)[1] == 2 else second
    # Labeled again by the repair, and at once evaluated (the fixture's raters split).
    assert counts(both)[:2] == (2, 2)
    assert counts(both)[2] in (ItemStatus.AGREED, ItemStatus.CONFLICT)
    assert counts(lease.item)[0] >= 1 and counts(lease.item)[2] == ItemStatus.IN_PROGRESS
    assert f"item {both.pk} (key {both.key}): annotation_count 0 -> 2" in report.changes
    assert f"item {both.pk} (key {both.key}): status open -> labeled" in report.changes
    assert counters_recount(project=project).changes == []  # a second run finds nothing


def test_a_check_reports_without_changing_anything(project, bob):
    make_items(project, 2)
    (item,) = label(project, bob)
    Item.objects.filter(pk=item.pk).update(annotation_count=0)

    report = counters_recount(project=project, fix=False)

    assert not report.fixed
    assert report.changes == [f"item {item.pk} (key {item.key}): annotation_count 0 -> 1"]
    assert counts(item)[1] == 0


def test_a_decision_beyond_the_engine_keeps_its_status_and_gets_its_counts(project, bob):
    make_items(project, 1)
    (item,) = label(project, bob)
    Item.objects.filter(pk=item.pk).update(status=ItemStatus.RESOLVED, slots_taken=2)

    report = counters_recount(project=project)

    assert counts(item) == (1, 1, ItemStatus.RESOLVED)
    assert report.changes == [f"item {item.pk} (key {item.key}): slots_taken 2 -> 1"]


def test_a_lease_deleted_in_the_admin_gives_its_slot_back(project, bob):
    make_items(project, 1)
    (hold,) = item_claim(project=project, rater=bob)
    Assignment.objects.filter(pk=hold.assignment.pk).delete()
    assert counts(hold.item) == (1, 0, ItemStatus.IN_PROGRESS)

    counters_recount(project=project)

    assert counts(hold.item) == (0, 0, ItemStatus.OPEN)
    assert item_claim(project=project, rater=bob)[0].item.pk == hold.item.pk


def test_a_label_whose_assignment_row_was_deleted_still_holds_its_slot(project, bob, carol):
    """bob's assignment row is deleted in the admin, his label stays: the item still has two
    holders (his label and carol's lease), so carol's lease expiring must leave one slot taken,
    not break the schema's annotation_count <= slots_taken."""
    make_items(project, 1)
    (item,) = label(project, bob)
    assert len(item_claim(project=project, rater=carol)) == 1  # a live lease
    Assignment.objects.filter(item=item, rater=bob).delete()

    report = counters_recount(project=project)

    assert report.changes == []
    assert counts(item) == (2, 1, ItemStatus.IN_PROGRESS)
    later = timezone.now() + timedelta(hours=1)
    assert leases_reclaim_expired(project=project, now=later) == 1
    assert counts(item) == (1, 1, ItemStatus.IN_PROGRESS)


def test_members_counts_are_recounted_from_their_annotations(project, bob, carol):
    make_items(project, 4)
    label(project, bob, 3)
    Membership.objects.filter(project=project, user=bob).update(labeled_total=7, labeled_today=0)
    Membership.objects.filter(project=project, user=carol).update(labeled_total=2)

    report = counters_recount(project=project)

    assert sorted(report.changes) == [
        "member bob: labeled_today 0 -> 3",
        "member bob: labeled_total 7 -> 3",
        "member carol: labeled_total 2 -> 0",
    ]
    progress = rater_progress(project=project, rater=bob)
    assert (progress.mine_total, progress.mine_today) == (3, 3)
    assert rater_progress(project=project, rater=carol).mine_total == 0


def test_items_go_in_batches_with_progress(project, bob, monkeypatch):
    monkeypatch.setattr(counters, "BATCH", 2)
    make_items(project, 5)
    label(project, bob, 5)
    Item.objects.filter(project=project).update(annotation_count=0)
    seen: list[tuple[int, int]] = []

    report = counters_recount(
        project=project, progress=lambda done, total: seen.append((done, total))
    )

    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert len(report.changes) == 5
    assert invariant_violations(project) == []


def test_the_command_checks_then_repairs(project, bob, alice):
    other = make_project(lead=alice, name="Other", raters=[bob])
    make_items(project, 2)
    make_items(other, 1, prefix="other")
    (item,) = label(project, bob)
    label(other, bob)
    Item.objects.filter(pk=item.pk).update(annotation_count=0)
    out = io.StringIO()

    with pytest.raises(CommandError, match="disagree with their rows in 1 project") as failed:
        call_command("recount_counters", "--check", stdout=out, stderr=io.StringIO())
    assert failed.value.returncode == 1
    assert f"item {item.pk} (key {item.key}): annotation_count 0 -> 1" in out.getvalue()
    assert f"Project {other.pk} (Other): 1 items and 2 members checked; every counter" in (
        out.getvalue()
    )
    assert counts(item)[1] == 0

    out = io.StringIO()
    call_command("recount_counters", str(project.pk), stdout=out, stderr=io.StringIO())
    assert "1 counters repaired" in out.getvalue()
    assert counts(item)[1] == 1
    call_command("recount_counters", "--check", stdout=io.StringIO(), stderr=io.StringIO())


def test_the_command_names_a_project_that_does_not_exist(project):
    with pytest.raises(CommandError, match="No project with id 999"):
        call_command("recount_counters", "999", str(project.pk), stderr=io.StringIO())


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks matter on PostgreSQL only")
def test_a_recount_during_live_labeling_changes_nothing_and_loses_nothing(alice, monkeypatch):
    """Raters claim and submit in threads of their own while the recount runs in small batches,
    again and again until they are done: it neither deadlocks with them nor mistakes a label in
    flight for drift (it repairs nothing), and the counters stay exact."""
    monkeypatch.setattr(counters, "BATCH", 5)
    raters = [UserFactory(username=f"rater{n}") for n in range(4)]
    project = make_project(lead=alice, raters=raters, raters_per_item=2)
    make_items(project, 150)
    go = threading.Event()
    failures: list[BaseException] = []

    def rate(rater: Any) -> None:
        try:
            go.wait(timeout=60)
            while label(project, rater):
                pass
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=rate, args=(r,), daemon=True) for r in raters]
    for thread in threads:
        thread.start()
    reports, labels_seen = [], []
    go.set()
    try:
        while any(t.is_alive() for t in threads) and len(reports) < 200:
            labels_seen.append(Annotation.objects.filter(project=project).count())
            reports.append(counters_recount(project=project))
    finally:
        for thread in threads:
            thread.join(timeout=120)
    assert failures == []
    assert not any(t.is_alive() for t in threads)
    assert Annotation.objects.filter(project=project).count() == 300  # every slot labeled
    assert len(set(labels_seen)) > 1, "the recounts ran while labels were coming in"
    assert [r.changes for r in reports] == [[]] * len(reports)
    assert invariant_violations(project) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="lock timeouts matter on PostgreSQL only"
)
def test_a_batch_whose_item_stays_locked_gives_way_and_is_tried_again(project, bob, monkeypatch):
    """Another transaction holds one item's lock the whole time: each try of the batch times
    out after LOCK_TIMEOUT, holding nothing, and the recount gives up after LOCK_ATTEMPTS."""
    from django.db import OperationalError

    monkeypatch.setattr(counters, "LOCK_ATTEMPTS", 3)
    tries: list[int] = []
    real_batch = counters._items_batch
    monkeypatch.setattr(
        counters, "_items_batch", lambda *a, **kw: tries.append(1) or real_batch(*a, **kw)
    )
    (item,) = make_items(project, 1)
    locked, release = threading.Event(), threading.Event()

    def hold_the_item() -> None:
        try:
            with transaction.atomic():
                list(Item.objects.select_for_update().filter(pk=item.pk))
                locked.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_item, daemon=True)
    holder.start()
    try:
        assert locked.wait(timeout=60)
        with pytest.raises(OperationalError) as timed_out:
            counters_recount(project=project)
        assert timed_out.value.__cause__.sqlstate == counters.LOCK_NOT_AVAILABLE
        assert len(tries) == 3
    finally:
        release.set()
        holder.join(timeout=60)
    assert counters_recount(project=project).items_checked == 1
