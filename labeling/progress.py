"""The figures a rater's labeling page shows with every item: how many items still need a label
from anyone, how many of those this rater could still label, and the rater's own counts.

The first two come from one count of the project, cached and recounted by the worker when
stale; the rater's figure follows their own labels between counts (see `Remaining`). A service
rather than a selector: answering may write the shared cache and queue a recount.
"""

from __future__ import annotations

import logging
import time as time_module
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from core import sql
from labeling.models import Assignment, AssignmentStatus
from labeling.selectors import OPEN_STATUSES
from projects.models import Item, ItemStatus, Membership, Project

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RaterProgress:
    mine_today: int
    mine_total: int
    project_remaining: int  # regular items still waiting for a label from anyone
    mine_remaining: int  # of those, the ones this rater could still label


@dataclass(frozen=True)
class Remaining:
    """One count of a project's remaining work, as shared between processes.

    `items` are the regular items that still need a label from anyone (open or in progress).
    A rater could still label those of them they have not labeled or skipped, unless the item's
    k slots are all held by others. Counting that per rater on every claim would read all their
    past assignments, so the count stores, per member, that figure plus their labeled total at
    the count (`rater_bases`): every first label of theirs since takes exactly one item off
    (it becomes one they did, or leaves `items`), so their figure now is their base less their
    labeled total now, which every claim reads anyway. Others' labels, the rater's skips, and
    gold items they label are caught up by the next count.
    """

    items: int
    counted_at: float  # time.time() of the count
    rater_bases: Mapping[int, int]
    newcomer: int  # a member who joined since the count: `items` less the full ones

    def as_entry(self) -> tuple[int, float, dict[int, int], int]:
        return (self.items, self.counted_at, dict(self.rater_bases), self.newcomer)

    @classmethod
    def from_entry(cls, entry: Any) -> Remaining | None:
        """The figures from a cache entry, or None for an entry of another shape."""
        if not (isinstance(entry, tuple) and len(entry) == 4):
            return None
        return cls(int(entry[0]), float(entry[1]), entry[2], int(entry[3]))

    def for_rater(self, rater_id: int, *, labeled_total: int, holding: int = 0) -> int:
        """Items the rater could still label: never more than `items`, never fewer than the
        regular items they hold right now (`holding`)."""
        base = self.rater_bases.get(rater_id)
        estimate = self.newcomer if base is None else base - labeled_total
        return max(holding, min(self.items, max(estimate, 0)))


_remaining_seen: dict[str, Remaining] = {}
# A recount that has not answered by then (a worker down, a task lost) is asked for again.
REMAINING_LOCK_SECONDS = 60


def project_remaining(*, project: Project) -> int:
    """Regular items that still need a label from anyone (see `remaining_figures`)."""
    return remaining_figures(project=project).items


def remaining_figures(*, project: Project) -> Remaining:
    """The project's remaining figures, counted at most ACCORD_PROGRESS_CACHE_SECONDS ago.

    The labeling page asks on every item, and on a million items the count is a scan of the
    status index (about 0.2 s of a core), so the value is cached for
    ACCORD_PROGRESS_CACHE_SECONDS. When it goes stale, the first request to see it asks for a
    recount (it takes a lock key, so there is no stampede) and, like every other request
    meanwhile, answers with the stale value: with a Celery worker the recount runs there, off
    the rater's request (counted in the request, it made every 30 s one claim wait 0.2-0.25 s
    and stalled the others). The request counts itself only for the project's first count,
    when the task cannot be queued, or when the figure
    is older than two asks (no worker is taking the tasks).
    """
    seconds = getattr(settings, "ACCORD_PROGRESS_CACHE_SECONDS", 5)
    if not seconds:
        return _remaining_count(project.pk)
    key = _remaining_key(project.pk)
    # This process keeps its own copy of the shared entry while it is fresh: it is asked on
    # every claim, and a round trip to Redis costs more than the rest of the answer.
    cached = _remaining_seen.get(key)
    if cached is None or time_module.time() - cached.counted_at >= seconds:
        cached = Remaining.from_entry(cache.get(key))
    if cached is not None and time_module.time() - cached.counted_at < seconds:
        _remaining_seen[key] = cached
        return cached
    locked = cache.add(f"{key}:lock", 1, timeout=REMAINING_LOCK_SECONDS)
    if not locked and cached is not None:
        return cached  # someone else is recounting
    if cached is None:
        return remaining_recount(project.pk, locked=locked)  # nothing to answer with yet
    if time_module.time() - cached.counted_at > seconds + 2 * REMAINING_LOCK_SECONDS:
        # Asked for twice and never recounted: no worker is taking the task (down, on another
        # queue, or busy with a long import). Count here rather than serve it for a day.
        return remaining_recount(project.pk, locked=True)
    from labeling.tasks import project_remaining_recount_task

    try:
        # Expires with the lock: a backlog of stale asks is not worth counting.
        project_remaining_recount_task.apply_async((project.pk,), expires=REMAINING_LOCK_SECONDS)
    except Exception:  # the broker unreachable, or refusing: the rater's claim must not fail
        logger.warning("could not queue the recount: counting the remaining items in the request",
                       exc_info=True)  # fmt: skip
        return remaining_recount(project.pk, locked=True)
    # In-process tasks (no worker) have just counted; a worker answers later.
    seen = _remaining_seen.get(key)
    return seen if seen is not None and seen.counted_at > cached.counted_at else cached


def project_remaining_recount(project_id: int, *, locked: bool = True) -> int:
    """Count the project's remaining figures, share them, and release the recount lock (when
    the caller holds it); returns the items that still need a label."""
    return remaining_recount(project_id, locked=locked).items


def remaining_recount(project_id: int, *, locked: bool = True) -> Remaining:
    key = _remaining_key(project_id)
    try:
        figures = _remaining_count(project_id)
        _remaining_seen[key] = figures
        cache.set(key, figures.as_entry(), timeout=24 * 60 * 60)
    finally:
        if locked:
            cache.delete(f"{key}:lock")
    return figures


def _remaining_key(project_id: int) -> str:
    return f"accord:project:{project_id}:remaining"


def _remaining_count(project_id: int) -> Remaining:
    """One consistent count (one snapshot on PostgreSQL) of the project's remaining items and of
    each member's share of them.

    The items: open ones of every kind less the gold ones, so that the first count reads only
    the (project, status) index and the second the few gold items; the full ones (all k slots
    held or spent) are among those in progress. Per rater, one pass over the assignments of
    the items still open: those the rater labeled or skipped, and those of the full ones they
    hold or did (the rater's own holds stay theirs to label)."""
    k = Project.objects.filter(pk=project_id).values_list("raters_per_item", flat=True).first()
    k = k or 1
    open_items = Item.objects.filter(project_id=project_id, status__in=OPEN_STATUSES)
    full = Q(status=ItemStatus.IN_PROGRESS, is_gold=False, slots_taken__gte=k)
    rows_on_open_items = Assignment.objects.filter(
        project_id=project_id, item__status__in=OPEN_STATUSES, item__is_gold=False
    ).exclude(status=AssignmentStatus.EXPIRED)
    did = Q(status__in=(AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED))
    with _counting():
        remaining = open_items.count() - open_items.filter(is_gold=True).count()
        free = remaining - open_items.filter(full).count()
        shares = {
            rater: (n_did, n_in_full)
            for rater, n_did, n_in_full in rows_on_open_items.order_by()
            .values("rater_id")
            .annotate(n_did=Count("id", filter=did),
                      n_in_full=Count("id", filter=Q(item__slots_taken__gte=k)))
            .values_list("rater_id", "n_did", "n_in_full")
        }  # fmt: skip
        labeled_totals = Membership.objects.filter(project_id=project_id).values_list(
            "user_id", "labeled_total"
        )
        bases = {}
        for user_id, labeled_total in labeled_totals:
            n_did, n_in_full = shares.get(user_id, (0, 0))
            # Free items less those they did; a full item they did was never free, and one they
            # hold is still theirs to label: both come back.
            bases[user_id] = free - n_did + n_in_full + labeled_total
    return Remaining(
        items=remaining, counted_at=time_module.time(), rater_bases=bases, newcomer=free
    )


@contextmanager
def _counting() -> Iterator[None]:
    """On PostgreSQL, a transaction whose reads see one snapshot (REPEATABLE READ, unless the
    caller's transaction is already under way), so that the counts agree with each other while
    raters label, and that runs on one core: a parallel scan of a million rows took both cores
    for a quarter of a second and stalled every rater's request meanwhile. Nothing on SQLite,
    where a transaction would take the write lock (the counts may then disagree by the labels
    made between them, until the next count)."""
    if connection.vendor != "postgresql":
        yield
        return
    fresh = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if fresh:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def rater_progress(*, project: Project, rater: User, now: datetime | None = None) -> RaterProgress:
    """The rater's counts, kept on their membership by each first submit, and the project's
    remaining figures."""
    row = sql.fetch_one(
        "SELECT labeled_total, CASE WHEN labeled_on = %s THEN labeled_today ELSE 0 END"
        " FROM projects_membership WHERE project_id = %s AND user_id = %s",
        [sql.param(Membership, "labeled_on", timezone.localdate(now or timezone.now())),
         project.pk, rater.pk],
    )  # fmt: skip
    total, today = row if row is not None else (0, 0)
    remaining = remaining_figures(project=project)
    return RaterProgress(
        mine_today=today,
        mine_total=total,
        project_remaining=remaining.items,
        mine_remaining=remaining.for_rater(rater.pk, labeled_total=total),
    )
