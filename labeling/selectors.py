"""Reads for the labeling page and the rater's home."""

from __future__ import annotations

import logging
import time as time_module
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from labeling.assignment import CLAIM_ORDER
from labeling.models import Annotation, Assignment, AssignmentStatus
from projects import sql
from projects.models import Item, ItemStatus, Membership, Project

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

OPEN_STATUSES = (ItemStatus.OPEN, ItemStatus.IN_PROGRESS)


@dataclass(frozen=True)
class RaterProgress:
    mine_today: int
    mine_total: int
    project_remaining: int  # regular items still waiting for labels


def start_of_today(now: datetime) -> datetime:
    """Midnight (TIME_ZONE) of the day `now` falls in."""
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)


def labeled_counts(*, project_id: int, user_id: int, now: datetime) -> tuple[int, int]:
    """The member's labeled items in the project, counted from their annotations: in all, and
    since midnight of `now`'s day (the counts the membership row keeps)."""
    counted = Annotation.objects.filter(project=project_id, rater=user_id).aggregate(
        total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=start_of_today(now)))
    )
    return counted["total"], counted["today"]


_remaining_seen: dict[str, tuple[int, float]] = {}
# A recount that has not answered by then (a worker down, a task lost) is asked for again.
REMAINING_LOCK_SECONDS = 60


def project_remaining(*, project: Project) -> int:
    """Regular items that still need labels.

    The labeling page asks on every item, and on a million items the count is a scan of the
    status index (about 0.2 s of a core), so the value is cached for
    ACCORD_PROGRESS_CACHE_SECONDS. When it goes stale, the first request to see it asks for a
    recount (it takes a lock key, so there is no stampede) and, like every other request
    meanwhile, answers with the stale value: with a Celery worker the recount runs there, off
    the rater's request (counted in the request, it made every 30 s one claim wait 0.2-0.25 s
    and stalled the others). The request counts itself only for the project's first count,
    with tasks in-process (no REDIS_URL), when the task cannot be queued, or when the figure
    is older than two asks (no worker is taking the tasks).
    """
    seconds = getattr(settings, "ACCORD_PROGRESS_CACHE_SECONDS", 5)
    if not seconds:
        return _remaining_count(project.pk)
    key = _remaining_key(project.pk)
    # This process keeps its own copy of the shared entry while it is fresh: it is asked on
    # every claim, and a round trip to Redis costs more than the rest of the answer.
    cached = _remaining_seen.get(key)
    if cached is None or time_module.time() - cached[1] >= seconds:
        cached = cache.get(key)
    if cached is not None and time_module.time() - cached[1] < seconds:
        _remaining_seen[key] = cached
        return int(cached[0])
    locked = cache.add(f"{key}:lock", 1, timeout=REMAINING_LOCK_SECONDS)
    if not locked and cached is not None:
        return int(cached[0])  # someone else is recounting
    if cached is None:
        return project_remaining_recount(project.pk, locked=locked)  # nothing to answer with yet
    if time_module.time() - cached[1] > seconds + 2 * REMAINING_LOCK_SECONDS:
        # Asked for twice and never recounted: no worker is taking the task (down, on another
        # queue, or busy with a long import). Count here rather than serve it for a day.
        return project_remaining_recount(project.pk, locked=True)
    from labeling.tasks import project_remaining_recount_task

    try:
        # Expires with the lock: a backlog of stale asks is not worth counting.
        project_remaining_recount_task.apply_async((project.pk,), expires=REMAINING_LOCK_SECONDS)
    except Exception:  # the broker unreachable, or refusing: the rater's claim must not fail
        logger.warning("could not queue the recount: counting the remaining items in the request",
                       exc_info=True)  # fmt: skip
        return project_remaining_recount(project.pk, locked=True)
    # In-process tasks (no worker) have just counted; a worker answers later.
    seen = _remaining_seen.get(key)
    return int(seen[0] if seen is not None and seen[1] > cached[1] else cached[0])


def project_remaining_recount(project_id: int, *, locked: bool = True) -> int:
    """Count the project's remaining items, share the figure, and release the recount lock
    (when the caller holds it)."""
    key = _remaining_key(project_id)
    try:
        value = _remaining_count(project_id)
        _remaining_seen[key] = (value, time_module.time())
        cache.set(key, _remaining_seen[key], timeout=24 * 60 * 60)
    finally:
        if locked:
            cache.delete(f"{key}:lock")
    return value


def _remaining_key(project_id: int) -> str:
    return f"accord:project:{project_id}:remaining"


def _remaining_count(project_id: int) -> int:
    # Open items of every kind, less the gold ones: the first count reads only the
    # (project, status) index, the second the few gold items. One core, not parallel workers: a
    # parallel scan of a million rows took both cores for a quarter of a second and stalled
    # every rater's request meanwhile.
    items = Item.objects.filter(project_id=project_id, status__in=OPEN_STATUSES)
    with _one_core():
        return items.count() - items.filter(is_gold=True).count()


@contextmanager
def _one_core() -> Iterator[None]:
    """PostgreSQL without parallel workers for what runs inside. Nothing on SQLite, where the
    transaction it needs would take the write lock."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield


def rater_progress(*, project: Project, rater: User, now: datetime | None = None) -> RaterProgress:
    """The rater's counts, kept on their membership by each first submit, and the project's
    remaining items."""
    row = sql.fetch_one(
        "SELECT labeled_total, CASE WHEN labeled_on = %s THEN labeled_today ELSE 0 END"
        " FROM projects_membership WHERE project_id = %s AND user_id = %s",
        [sql.param(Membership, "labeled_on", timezone.localdate(now or timezone.now())),
         project.pk, rater.pk],
    )  # fmt: skip
    total, today = row if row is not None else (0, 0)
    return RaterProgress(
        mine_today=today, mine_total=total, project_remaining=project_remaining(project=project)
    )


@dataclass(frozen=True)
class PastItem:
    assignment: Assignment
    item: Item
    annotation: Annotation | None  # None when skipped


def rater_history(
    *, project: Project, rater: User, before_id: int | None = None, limit: int = 20
) -> list[PastItem]:
    """The rater's own submitted and skipped items, most recently claimed first (paged by id).
    Only the rater's own labels: never another rater's."""
    assignments = Assignment.objects.filter(
        project=project,
        rater=rater,
        status__in=(AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED),
    ).select_related("item", "item__image")
    if before_id is not None:
        assignments = assignments.filter(id__lt=before_id)
    rows = list(assignments.order_by("-id")[:limit])
    annotations = {
        a.item_id: a
        for a in Annotation.objects.filter(rater=rater, item_id__in=[r.item_id for r in rows])
    }
    return [
        PastItem(assignment=r, item=r.item, annotation=annotations.get(r.item_id)) for r in rows
    ]


def items_open_for_rater(*, project: Project, rater: User, limit: int) -> list[int]:
    """Ids of up to `limit` regular items the rater could be given now, in the claim order
    (the same order and filters as `assignment._pick_regular`, served by `item_claim_order`):
    a slot free, not resolved, and never held by this rater."""
    held_by_rater = Assignment.objects.filter(item=OuterRef("pk"), rater_id=rater.pk)
    return list(
        Item.objects.filter(project=project, is_gold=False, slots_taken__lt=project.raters_per_item)
        .exclude(status=ItemStatus.RESOLVED)
        .exclude(Exists(held_by_rater))
        .order_by(*CLAIM_ORDER)
        .values_list("pk", flat=True)[:limit]
    )


def assigned_waiting_by_rater(*, project: Project) -> list[tuple[str, int]]:
    """Lead-assigned items not yet labeled or skipped, per rater username, most first."""
    rows = (
        Assignment.objects.filter(project=project, status=AssignmentStatus.ASSIGNED)
        .order_by()
        .values("rater__username")
        .annotate(n=Count("id"))
        .values_list("rater__username", "n")
    )
    return sorted(rows, key=lambda row: (-row[1], row[0]))
