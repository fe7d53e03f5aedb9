"""The assignment engine: which item a rater gets next, under leases.

Invariants, all kept by the database:
- an item is never given twice to one rater: `UniqueConstraint(item, rater)` on Assignment, and
  the claim query excludes items the rater has any assignment row for (leased, assigned,
  submitted or skipped);
- never more than k raters hold or have labeled a regular item: `Item.slots_taken` counts them,
  the claim takes only items with `slots_taken < k` and increments it while holding the item's
  row lock (PostgreSQL `FOR NO KEY UPDATE SKIP LOCKED`; SQLite serializes whole write
  transactions);
- an expired lease is marked expired, and its slot freed, by the next claim in the project: no
  scheduled job is needed (`leases_tidy` only tidies projects nobody is claiming in).

The order of a rater's queue: items a lead assigned to them; then items others have started
(most slots taken first, so that agreement appears early); then the item priority; then a
stable pseudo-random order (`shuffle_key`, fixed at import). The partial index
`item_claim_order` serves exactly that order, so a claim reads a handful of index entries
(a few windows of QUEUE_WINDOW entries at most, however far ahead the rater is).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core import sql
from labeling.errors import NotAMember
from labeling.models import Assignment, AssignmentStatus
from projects.models import ImageBlob, Item, ItemStatus, Membership, Project
from projects.services.archive import project_ensure_writable

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_HOLD = 3  # the current item plus up to two prefetched ones
RECLAIM_BATCH = 500
# The queue order, served by the partial index `item_claim_order`.
CLAIM_ORDER = ("-slots_taken", "-priority", "shuffle_key", "id")
# How many items of the queue (or of one slot level) a claim looks at before it moves on, and
# at most how many slot-level windows it reads before fresh items (see _pick_regular). Keep the
# window well above the rows that claims in flight hold locked at once (up to MAX_HOLD each).
QUEUE_WINDOW = 100
MAX_LEVEL_WINDOWS = 3

# `status` after a slot is taken: an open item is now in progress; others keep theirs.
STATUS_AFTER_TAKE = Case(
    When(status=ItemStatus.OPEN, then=Value(ItemStatus.IN_PROGRESS)), default=F("status")
)

# What the labeling page needs of a held item, its image and its assignment (the other fields
# load on first access).
ITEMS = sql.Loader(Item, ("id", "project_id", "key", "text", "image_id", "data", "is_gold"))
IMAGES = sql.Loader(ImageBlob, ("id", "width", "height"))
ASSIGNMENTS = sql.Loader(
    Assignment, ("id", "project_id", "item_id", "rater_id", "status", "expires_at", "is_gold")
)
ITEM_COLUMNS = f"{ITEMS.columns('i')}, {IMAGES.columns('b')}"
# Regular items with a free slot; the first three conditions are those of `item_claim_order`.
FREE_ITEM = (
    "{t}.project_id = %s AND NOT {t}.is_gold AND {t}.slots_taken < %s AND {t}.status <> 'resolved'"
)
# Items the rater has a row for (all but a lease that expired: the rater may get that item
# again, and _lease_create revives the row).
NOT_DONE = (
    "NOT EXISTS (SELECT 1 FROM labeling_assignment d"
    " WHERE d.item_id = i.id AND d.rater_id = %s AND d.status <> 'expired')"
)
ORDER = "{t}.slots_taken DESC, {t}.priority DESC, {t}.shuffle_key, {t}.id"


@dataclass(frozen=True)
class Hold:
    """An item the rater may label now: a lease (with expiry) or a lead's assignment."""

    assignment: Assignment
    item: Item


def _hold_from_row(row: sql.Row) -> Hold:
    """A Hold from the columns ITEM_COLUMNS, then those of ASSIGNMENTS."""
    n_item, n_image = len(ITEMS.attnames), len(IMAGES.attnames)
    item = ITEMS.load(row[:n_item])
    if item.image_id is not None:
        item.image = IMAGES.load(row[n_item : n_item + n_image])
    held = ASSIGNMENTS.load(row[n_item + n_image :])
    held.item = item
    return Hold(assignment=held, item=item)


@dataclass(frozen=True)
class MembershipState:
    any_lease_expired: bool  # in the whole project
    labeled_total: int  # the rater's labeled items in the project
    labeled_today: int


def _membership_lock(project: Project, rater: User, now: datetime) -> MembershipState:
    """Lock the rater's membership row; read their counts, and whether any lease of the project
    has expired.

    Claims of one rater in one project are serialized by the lock, so two tabs (or a retried
    request) cannot both take a new lease at once. The expiry check rides along in the same
    statement (served by the partial index `assignment_lease_expiry`): nearly always there is
    none, and the claim then pays nothing more for reclaiming."""
    found = sql.fetch_one(
        "SELECT EXISTS (SELECT 1 FROM labeling_assignment WHERE project_id = %s"
        " AND status = 'leased' AND expires_at <= %s), labeled_total,"
        " CASE WHEN labeled_on = %s THEN labeled_today ELSE 0 END"
        # An external rater (named in an imported file) never claims: they have no account
        # to sign in with, and this keeps it so should one ever reach here.
        " FROM projects_membership WHERE project_id = %s AND user_id = %s AND NOT is_external"
        + sql.locking("FOR UPDATE"),
        [project.pk, sql.param(Assignment, "expires_at", now),
         sql.param(Membership, "labeled_on", timezone.localdate(now)), project.pk, rater.pk],
    )  # fmt: skip
    if found is None:
        raise NotAMember("You are not a member of this project.")
    return MembershipState(bool(found[0]), int(found[1]), int(found[2]))


def _holds(project: Project, rater: User, now: datetime, limit: int) -> list[Hold]:
    """The rater's live leases (oldest first: the one on screen), then lead assignments."""
    rows = sql.fetch_all(
        f"SELECT {ITEM_COLUMNS}, {ASSIGNMENTS.columns('a')}"
        " FROM labeling_assignment a JOIN projects_item i ON i.id = a.item_id"
        " LEFT JOIN projects_imageblob b ON b.id = i.image_id"
        " WHERE a.project_id = %s AND a.rater_id = %s AND a.status IN ('assigned', 'leased')"
        " AND (a.status = 'assigned' OR a.expires_at > %s)"
        " ORDER BY CASE WHEN a.status = 'leased' THEN 0 ELSE 1 END, a.id LIMIT %s",
        [project.pk, rater.pk, sql.param(Assignment, "expires_at", now), limit],
    )
    return [_hold_from_row(row) for row in rows]


def _pick_regular(project: Project, rater: User) -> sql.Row | None:
    """The first free regular item in queue order, row-locked; locked rows are skipped so that
    concurrent claimers take different items instead of queueing on the same one.

    Every read is bounded, however many items the rater has labeled. One ordered scan would
    walk past every started item the rater already did, on every claim; those pile up when one
    rater is far ahead of the others, or when fewer raters are active than k (items then wait at
    k - 1 slots for good). So the claim looks at:
    1. the first QUEUE_WINDOW items of the queue (the usual case ends here, in one query);
    2. the first QUEUE_WINDOW items of each slot level, most slots first, so that an item a
       colleague just started is not hidden behind items waiting for a k-th rater;
    3. fresh items (the rater can have done one only by skipping it);
    4. only when no fresh item is left: every started item, past all windows.
    """
    k = project.raters_per_item
    if row := _first_not_done(project, rater, window=""):
        return row
    for lowest, highest in _level_windows(k):
        level = f" AND w.slots_taken BETWEEN {lowest:d} AND {highest:d}"
        if row := _first_not_done(project, rater, window=level):
            return row
    if row := _first_not_done(project, rater, level=" AND i.slots_taken = 0"):
        return row
    return _first_not_done(project, rater, level=" AND i.slots_taken >= 1") if k > 1 else None


def _level_windows(k: int) -> list[tuple[int, int]]:
    """Slot levels (lowest, highest) to look at in turn, most slots first: one level each for
    the top MAX_LEVEL_WINDOWS - 1 levels, and the levels below those together."""
    single = list(range(k - 1, 0, -1))[: MAX_LEVEL_WINDOWS - 1]
    windows = [(level, level) for level in single]
    below = (single[-1] if single else k) - 1
    if below >= 1:
        windows.append((1, below))
    return windows


def _first_not_done(
    project: Project, rater: User, *, window: str | None = None, level: str = ""
) -> sql.Row | None:
    """The first free item the rater has not done, locked, as ITEM_COLUMNS.

    With `window` (a condition on `w`, possibly empty), only among the first QUEUE_WINDOW free
    items that match it: the window is read in index order and joined in that order, so the
    query stops at the first item the rater has not done (a few index probes, not a hundred).
    `FREE_ITEM` stays on the locking query itself: PostgreSQL rechecks that query's conditions
    on the newest row version when a concurrent claim changed the row, so an item that another
    claim filled meanwhile is passed over (a condition only inside the window would be judged
    on the older snapshot: k + 1 holders)."""
    k = project.raters_per_item
    params: list[object] = []
    source, order = "projects_item i", ORDER.format(t="i")
    if window is not None:
        source = (
            "(SELECT w.id, w.slots_taken, w.priority, w.shuffle_key FROM projects_item w"
            f" WHERE {FREE_ITEM.format(t='w')}{window} ORDER BY {ORDER.format(t='w')} LIMIT %s)"
            " win JOIN projects_item i ON i.id = win.id"
        )
        order = ORDER.format(t="win")
        params += [project.pk, k, QUEUE_WINDOW]
    return sql.fetch_one(
        f"SELECT {ITEM_COLUMNS} FROM {source} LEFT JOIN projects_imageblob b ON b.id = i.image_id"
        f" WHERE {FREE_ITEM.format(t='i')}{level} AND {NOT_DONE} ORDER BY {order} LIMIT 1"
        # NO KEY UPDATE: the claim changes no key of the item, so the lock need not block the
        # foreign-key checks (KEY SHARE) of other raters' submits on the same item; claimers
        # still exclude each other.
        + sql.locking("FOR NO KEY UPDATE OF i SKIP LOCKED"),
        [*params, project.pk, k, rater.pk],
    )


def _pick_gold(project: Project, rater: User) -> sql.Row | None:
    """A gold item the rater has not seen. Gold items are outside k: every rater may get each,
    so there is no slot to race for and no lock."""
    return sql.fetch_one(
        f"SELECT {ITEM_COLUMNS} FROM projects_item i"
        " LEFT JOIN projects_imageblob b ON b.id = i.image_id"
        f" WHERE i.project_id = %s AND i.is_gold AND i.status <> 'resolved' AND {NOT_DONE}"
        " ORDER BY i.shuffle_key, i.id LIMIT 1",
        [project.pk, rater.pk],
    )


def _take_slot(item_id: int, now: datetime) -> None:
    sql.execute(
        "UPDATE projects_item SET slots_taken = slots_taken + 1,"
        " status = CASE WHEN status = 'open' THEN 'in_progress' ELSE status END, updated_at = %s"
        " WHERE id = %s",
        [sql.param(Item, "updated_at", now), item_id],
    )


def _lease_create(
    project: Project, item_id: int, rater: User, expires_at: datetime,
    is_gold: bool, now: datetime,
) -> int:  # fmt: skip
    """A new lease, or the rater's expired one on this item made live again (the row is unique
    per item and rater, and the pick passed over every other row of theirs). Returns its id."""
    stamp = sql.param(Assignment, "updated_at", now)
    row = sql.fetch_one(
        "INSERT INTO labeling_assignment (project_id, item_id, rater_id, status, expires_at,"
        " skip_reason, is_gold, created_at, updated_at)"
        " VALUES (%s, %s, %s, 'leased', %s, '', %s, %s, %s)"
        " ON CONFLICT (item_id, rater_id) DO UPDATE SET status = 'leased',"
        " expires_at = excluded.expires_at, is_gold = excluded.is_gold,"
        " updated_at = excluded.updated_at WHERE labeling_assignment.status = 'expired'"
        " RETURNING id",
        [project.pk, item_id, rater.pk, sql.param(Assignment, "expires_at", expires_at),
         is_gold, stamp, stamp],
    )  # fmt: skip
    if row is None:
        raise IntegrityError(f"item {item_id} was picked although {rater} holds or did it")
    return int(row[0])


@dataclass(frozen=True)
class Claim:
    holds: list[Hold]
    labeled_total: int  # the rater's counts, read with the claim (the page shows them)
    labeled_today: int


def item_claim(
    *,
    project: Project,
    rater: User,
    hold: int = 1,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> list[Hold]:
    """Return up to `hold` items the rater may label now, oldest hold first (`rater_claim`)."""
    return rater_claim(project=project, rater=rater, hold=hold, now=now, rng=rng).holds


def rater_claim(
    *,
    project: Project,
    rater: User,
    hold: int = 1,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Claim:
    """Up to `hold` items the rater may label now, oldest hold first, with the rater's counts.

    The rater's current leases and assignments come first, so reloading the page returns the
    same item; new leases are taken only to fill up to `hold` (at most MAX_HOLD: the page keeps
    the next item prefetched). No holds means the rater's queue is empty.
    """
    project_ensure_writable(project=project)  # archived: nobody claims (no query: in memory)
    now = now or timezone.now()
    hold = max(1, min(hold, MAX_HOLD))
    rng = rng or random.Random()
    with transaction.atomic():
        membership = _membership_lock(project, rater, now)
        if membership.any_lease_expired:
            leases_reclaim_expired(project=project, now=now)
        holds = _holds(project, rater, now, hold)
        expires_at = now + timedelta(minutes=project.lease_minutes)
        while len(holds) < hold:
            row = None
            if project.gold_rate > 0 and rng.random() < project.gold_rate:
                row = _pick_gold(project, rater)
            is_gold = row is not None
            if row is None:
                row = _pick_regular(project, rater)
            if row is None:
                break
            item_id = row[0]
            _take_slot(item_id, now)
            lease_id = _lease_create(project, item_id, rater, expires_at, is_gold, now)
            lease = (lease_id, project.pk, item_id, rater.pk, AssignmentStatus.LEASED,
                     expires_at, is_gold)  # fmt: skip
            holds.append(_hold_from_row((*row, *lease)))
    return Claim(holds, membership.labeled_total, membership.labeled_today)


def lease_renew(*, assignment: Assignment, now: datetime | None = None) -> bool:
    """Extend a lease by the project's lease length (the page calls this while the rater is still
    looking at the item). A lease past its expiry that no claim has reclaimed yet still holds its
    slot, so it is renewed too, as `annotation_submit` would accept it. Returns False if the lease
    was reclaimed (or is not a lease)."""
    project_ensure_writable(project=assignment.project)
    now = now or timezone.now()
    minutes = assignment.project.lease_minutes
    updated = Assignment.objects.filter(pk=assignment.pk, status=AssignmentStatus.LEASED).update(
        expires_at=now + timedelta(minutes=minutes), updated_at=now
    )
    return updated == 1


def slots_release(item_counts: Mapping[int, int], now: datetime) -> None:
    """Give back slots: `item_counts` maps item id to the number of slots freed. Items are locked
    in primary-key order so that two reclaimers cannot deadlock on each other's items."""
    ids = sorted(item_counts)
    list(Item.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
    by_count: dict[int, list[int]] = defaultdict(list)
    for item_id, freed in item_counts.items():
        by_count[freed].append(item_id)
    for freed, item_ids in by_count.items():
        Item.objects.filter(pk__in=item_ids).update(
            slots_taken=F("slots_taken") - freed,
            status=Case(
                When(
                    # annotation_count: an item back for one more rater has labels already.
                    Q(status=ItemStatus.IN_PROGRESS, slots_taken=freed, annotation_count=0),
                    then=Value(ItemStatus.OPEN),
                ),
                default=F("status"),
            ),
            updated_at=now,
        )


def leases_reclaim_expired(*, project: Project, now: datetime | None = None) -> int:
    """Mark the project's expired leases expired and free their slots; return how many.

    Leases another transaction holds (a submit in flight, another reclaimer) are skipped: the
    submit wins if it commits first, and the lease is reclaimed at a later claim otherwise.
    """
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(
            Assignment.objects.filter(
                project=project, status=AssignmentStatus.LEASED, expires_at__lte=now
            )
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", "item_id")[:RECLAIM_BATCH]
        )
        if not expired:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in expired]).update(
            status=AssignmentStatus.EXPIRED, updated_at=now
        )
        slots_release(Counter(item_id for _, item_id in expired), now)
    return len(expired)


def leases_tidy(*, now: datetime | None = None) -> int:
    """Reclaim expired leases in every project (the periodic cleanup)."""
    now = now or timezone.now()
    total = 0
    project_ids = (
        Assignment.objects.filter(status=AssignmentStatus.LEASED, expires_at__lte=now)
        .values_list("project_id", flat=True)
        .distinct()
    )
    for project in Project.objects.filter(pk__in=list(project_ids)):
        while reclaimed := leases_reclaim_expired(project=project, now=now):
            total += reclaimed
    return total
