"""Recount the labeling counters from the rows they summarize, and repair any that drifted.

The claim and the submit keep counters so that neither has to count (`Item.slots_taken`,
`Item.annotation_count`, the item's engine status, and the member's `labeled_total` and
`labeled_today`). Every write path of the application keeps them right under concurrency, but a
few paths lie outside it: a row deleted in the Django admin by cascade, a deploy in which old
workers still served labels while a migration ran, or a hand-written fix in `psql`. This is the
repair, safe to run on a live project (`manage.py recount_counters`): it reads the truth from the
Assignment and Annotation rows and writes only the counters that disagree.

Items go in primary-key batches, each batch locked (FOR NO KEY UPDATE, in pk order, as every other
item locker does) while it is counted, so a claim or submit on one of those items either commits
before the batch is counted or waits and applies its own increment after the fix. Claims pass
over the locked items meanwhile (SKIP LOCKED), and submits' foreign-key checks are not blocked.
The recount never waits long while it holds locks: a batch that cannot take its locks within
LOCK_TIMEOUT (say a claim holds one of its items and waits for a gold one the batch holds) is
rolled back and tried again, so the rater's claim goes through and nothing deadlocks. Members go
one at a time, each under the lock that their own claims and submits take first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from django.db import OperationalError, connection, transaction
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.changes import ChangeReason, LabelsChanged, labels_changed
from labeling.models import Annotation, Assignment, AssignmentStatus
from projects.models import Item, ItemStatus, Membership, Project

BATCH = 2_000
LOCK_TIMEOUT = "200ms"  # below PostgreSQL's deadlock_timeout (1 s): the recount gives way first
LOCK_ATTEMPTS = 50
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout that ran out
# A rater holds one of the item's k slots in these states (see labeling.assignment).
HOLDING = (AssignmentStatus.LEASED, AssignmentStatus.ASSIGNED, AssignmentStatus.SUBMITTED)
# The statuses the engine sets from the counters; later ones (agreed, conflict, resolved) are
# decisions of agreement and of leads, which a recount leaves alone.
ENGINE_STATUSES = (ItemStatus.OPEN, ItemStatus.IN_PROGRESS, ItemStatus.LABELED)
COUNTED = ("slots_taken", "annotation_count", "status")  # the item's fields a recount sets

Progress = Callable[[int, int], None]
T = TypeVar("T")


@dataclass
class CounterReport:
    project_id: int
    items_checked: int = 0
    memberships_checked: int = 0
    fixed: bool = False  # False: only checked (what would change is listed all the same)
    # One readable line per counter that disagreed with its rows ("item 17 (key a-3):
    # slots_taken 2 -> 1"), items first, then memberships.
    changes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.changes


def _count_of(rows: QuerySet[Any]) -> Coalesce:
    """The number of `rows` (a queryset filtered on OuterRef("pk")), 0 when there are none."""
    counted = rows.order_by().values("item").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), Value(0))


def _lock_timeout() -> None:
    """Inside a transaction on PostgreSQL: give up a lock wait after LOCK_TIMEOUT."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


def _retrying(step: Callable[[], T]) -> T:
    """Run `step` (one transaction) again while it times out on a lock: it holds none then."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            return step()
        except OperationalError as error:
            timed_out = getattr(error.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE
            if not timed_out or attempt == LOCK_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _items_batch(
    project: Project, after: int, *, fix: bool, now: datetime, report: CounterReport
) -> int | None:
    """Check (and with `fix`, repair) the next BATCH items after pk `after`; return the last pk
    checked, or None when no item is left."""
    k = project.raters_per_item
    with transaction.atomic():
        _lock_timeout()
        # In pk order, as slots_release and items_assign lock items.
        pks = list(
            Item.objects.select_for_update(no_key=True)
            .filter(project=project, pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not pks:
            return None
        holders = _count_of(Assignment.objects.filter(item=OuterRef("pk"), status__in=HOLDING))
        annotations = _count_of(Annotation.objects.filter(item=OuterRef("pk")))
        # An annotation always spent a slot (the schema checks annotation_count <= slots_taken),
        # so one whose assignment row is gone (deleted in the admin) still counts as a holder.
        orphans = _count_of(
            Annotation.objects.filter(item=OuterRef("pk")).exclude(
                Exists(
                    Assignment.objects.filter(
                        item=OuterRef("item"), rater=OuterRef("rater"), status__in=HOLDING
                    )
                )
            )
        )
        want_status = Case(
            When(~Q(status__in=ENGINE_STATUSES), then=F("status")),
            When(annotated__gte=k + F("extra_slots"), then=Value(ItemStatus.LABELED)),
            When(want_slots__gt=0, then=Value(ItemStatus.IN_PROGRESS)),
            default=Value(ItemStatus.OPEN),
        )
        drifted = (
            Item.objects.filter(project=project, pk__gte=pks[0], pk__lte=pks[-1])
            .annotate(held=holders, annotated=annotations, orphaned=orphans)
            # Slots a lead added beyond k are not counted (Item.extra_slots says why).
            .annotate(want_slots=F("held") + F("orphaned") - F("extra_slots"))
            .annotate(want_status=want_status)
            .exclude(
                slots_taken=F("want_slots"),
                annotation_count=F("annotated"),
                status=F("want_status"),
            )
            .order_by("pk")
            .values_list("pk", "key", "slots_taken", "annotation_count", "status",
                         "want_slots", "annotated", "want_status")
        )  # fmt: skip
        changes, repaired = [], []
        for pk, key, *found in drifted:
            old, new = found[:3], found[3:]
            for name, was, becomes in zip(COUNTED, old, new, strict=True):
                if was != becomes:
                    changes.append(f"item {pk} (key {key}): {name} {was} -> {becomes}")
            repaired.append(Item(pk=pk, **dict(zip(COUNTED, new, strict=True)), updated_at=now))
        if fix and repaired:
            Item.objects.bulk_update(repaired, [*COUNTED, "updated_at"])
            # Items the repair made labeled have all their labels in: their agreement follows.
            if labeled := [item.pk for item in repaired if item.status == ItemStatus.LABELED]:
                labels_changed(
                    LabelsChanged(project=project, item_ids=labeled, reason=ChangeReason.RECOUNT)
                )
    # Reported once the batch has committed: a batch tried again must not report twice.
    report.items_checked += len(pks)
    report.changes += changes
    return pks[-1]


def _memberships(
    project: Project, *, fix: bool, now: datetime | None, report: CounterReport
) -> None:
    """Check (and with `fix`, repair) each member's labeled counts, one member at a time."""
    members = list(
        Membership.objects.filter(project=project)
        .order_by("pk")
        .values_list("pk", "user_id", "user__username")
    )
    report.memberships_checked = len(members)
    for pk, user_id, username in members:
        member = partial(_member, project, pk, user_id, f"member {username}", fix=fix, now=now)
        report.changes += _retrying(member)


def _member(
    project: Project, pk: int, user_id: int, who: str, *, fix: bool, now: datetime | None
) -> list[str]:
    """Check (and with `fix`, repair) one member's counts; return the lines of what differs."""
    from labeling.selectors import labeled_counts

    with transaction.atomic():
        _lock_timeout()
        # The lock the rater's own claims and submits take first: a submit either counted
        # before this read or adds its label after the fix. The user row is not locked.
        member = (
            Membership.objects.select_for_update(no_key=True, of=("self",)).filter(pk=pk).first()
        )
        if member is None:  # removed meanwhile
            return []
        # The clock read under the lock, so that a run crossing midnight counts each member's
        # day as their next submit will.
        moment = now or timezone.now()
        today = timezone.localdate(moment)
        total, today_count = labeled_counts(project_id=project.pk, user_id=user_id, now=moment)
        shown_today = member.labeled_today if member.labeled_on == today else 0
        changes = []
        if member.labeled_total != total:
            changes.append(f"{who}: labeled_total {member.labeled_total} -> {total}")
        if shown_today != today_count:
            changes.append(f"{who}: labeled_today {shown_today} -> {today_count}")
        if fix and changes:
            member.labeled_total, member.labeled_today = total, today_count
            member.labeled_on = today
            member.save(update_fields=["labeled_total", "labeled_today", "labeled_on"])
    return changes


def counters_recount(
    *,
    project: Project,
    fix: bool = True,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> CounterReport:
    """Recount the project's labeling counters from its rows; with `fix`, repair those that
    disagree. `progress(done, total)` is called after each batch of items. Running it twice, or
    on a project with nothing wrong, changes nothing. `now` fixes the clock (tests)."""
    report = CounterReport(project_id=project.pk, fixed=fix)
    total = Item.objects.filter(project=project).count()
    after: int | None = 0
    while after is not None:
        batch = partial(
            _items_batch, project, after, fix=fix, now=now or timezone.now(), report=report
        )
        after = _retrying(batch)
        if after is not None and progress is not None:
            progress(report.items_checked, max(total, report.items_checked))
    _memberships(project, fix=fix, now=now, report=report)
    if fix and report.changes:
        from labeling.progress import project_remaining_recount

        # The labeling page's cached figure may have counted the wrong statuses.
        project_remaining_recount(project.pk, locked=False)
    return report
