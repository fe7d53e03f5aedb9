"""The figures a rater's labeling page shows with every item: the project's remaining count,
cached and recounted by the worker when stale, and the rater's own counts.

A service rather than a selector: answering may write the shared cache and queue a recount.
"""

from __future__ import annotations

import logging
import time as time_module
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from core import sql
from labeling.selectors import OPEN_STATUSES
from projects.models import Item, Membership, Project

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RaterProgress:
    mine_today: int
    mine_total: int
    project_remaining: int  # regular items still waiting for labels


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
