"""The assignment engine: which item a rater gets next, under leases.

Invariants, all kept by the database:
- an item is never given twice to one rater: `UniqueConstraint(item, rater)` on Assignment, and
  the claim query excludes items the rater has any assignment row for (leased, assigned,
  submitted or skipped);
- never more than k raters hold or have labeled a regular item: `Item.slots_taken` counts them,
  the claim takes only items with `slots_taken < k` and increments it while holding the item's
  row lock (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite serializes whole write transactions);
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from labeling.errors import NotAMember
from labeling.models import Assignment, AssignmentStatus
from projects.models import Item, ItemStatus, Membership, Project

HOLD_STATUSES = (AssignmentStatus.LEASED, AssignmentStatus.ASSIGNED)
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


@dataclass(frozen=True)
class Hold:
    """An item the rater may label now: a lease (with expiry) or a lead's assignment."""

    assignment: Assignment
    item: Item


def _membership_lock(project: Project, rater: AbstractBaseUser) -> Membership:
    """Lock the rater's membership row. Claims of one rater in one project are serialized by it,
    so two tabs (or a retried request) cannot both take a new lease at once.

    Only the membership row: Membership's default ordering joins the project and the user, and a
    plain FOR UPDATE would lock those rows too, making every claim in the project queue on the
    project row."""
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .filter(project=project, user=rater)
        .order_by("pk")
        .first()
    )
    if membership is None:
        raise NotAMember("You are not a member of this project.")
    return membership


def _holds(project: Project, rater: AbstractBaseUser, now: datetime) -> list[Assignment]:
    """The rater's live leases (oldest first: the one on screen), then lead assignments."""
    rows = list(
        Assignment.objects.filter(project=project, rater=rater, status__in=HOLD_STATUSES)
        .filter(Q(status=AssignmentStatus.ASSIGNED) | Q(expires_at__gt=now))
        .select_related("item", "item__image")
        .order_by("id")
    )
    rows.sort(key=lambda a: (a.status != AssignmentStatus.LEASED, a.id))
    return rows


def _pick_regular(project: Project, rater: AbstractBaseUser) -> Item | None:
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
    # `slots_taken < k` stays on each locking query itself: PostgreSQL rechecks that query's
    # conditions on the newest row version when a concurrent claim changed the row, so an item
    # that another claim filled meanwhile is passed over (a condition only inside a window
    # subquery would be judged on the older snapshot: k + 1 holders).
    free = Item.objects.filter(project=project, is_gold=False, slots_taken__lt=k).exclude(
        status=ItemStatus.RESOLVED
    )

    def first_in_window(items: QuerySet[Item]) -> Item | None:
        window = items.order_by(*CLAIM_ORDER).values("pk")[:QUEUE_WINDOW]
        return _first_not_done(free.filter(pk__in=window), rater)

    if item := first_in_window(free):
        return item
    for lowest, highest in _level_windows(k):
        if item := first_in_window(free.filter(slots_taken__range=(lowest, highest))):
            return item
    if item := _first_not_done(free.filter(slots_taken=0), rater):
        return item
    return _first_not_done(free.filter(slots_taken__gte=1), rater) if k > 1 else None


def _level_windows(k: int) -> list[tuple[int, int]]:
    """Slot levels (lowest, highest) to look at in turn, most slots first: one level each for
    the top MAX_LEVEL_WINDOWS - 1 levels, and the levels below those together."""
    single = list(range(k - 1, 0, -1))[: MAX_LEVEL_WINDOWS - 1]
    windows = [(level, level) for level in single]
    below = (single[-1] if single else k) - 1
    if below >= 1:
        windows.append((1, below))
    return windows


def _done_by(rater: AbstractBaseUser) -> QuerySet[Assignment]:
    """The rater's rows on the outer item that keep it out of their queue: all but a lease that
    expired (the rater may get that item again; `_lease_create` reuses the row)."""
    return Assignment.objects.filter(item=OuterRef("pk"), rater=rater).exclude(
        status=AssignmentStatus.EXPIRED
    )


def _first_not_done(candidates: QuerySet[Item], rater: AbstractBaseUser) -> Item | None:
    return (
        candidates.exclude(Exists(_done_by(rater)))
        .order_by(*CLAIM_ORDER)
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def _pick_gold(project: Project, rater: AbstractBaseUser) -> Item | None:
    """A gold item the rater has not seen. Gold items are outside k: every rater may get each."""
    return (
        Item.objects.filter(project=project, is_gold=True)
        .exclude(status=ItemStatus.RESOLVED)
        .exclude(Exists(_done_by(rater)))
        .order_by("shuffle_key", "id")
        .first()
    )


def _take_slot(item: Item, now: datetime) -> None:
    Item.objects.filter(pk=item.pk).update(
        slots_taken=F("slots_taken") + 1, status=STATUS_AFTER_TAKE, updated_at=now
    )


def _lease_create(
    project: Project, item: Item, rater: AbstractBaseUser, expires_at: datetime, is_gold: bool
) -> Assignment:
    """A new lease, or the rater's expired one on this item made live again (the row is unique
    per item and rater). Nearly always there is none, and the insert is the only query."""
    lease = Assignment(
        project=project, item=item, rater=rater, status=AssignmentStatus.LEASED,
        expires_at=expires_at, is_gold=is_gold,
    )  # fmt: skip
    try:
        with transaction.atomic():
            lease.save(force_insert=True)
    except IntegrityError:
        lease = Assignment.objects.select_for_update().get(
            item=item, rater=rater, status=AssignmentStatus.EXPIRED
        )
        lease.status = AssignmentStatus.LEASED
        lease.expires_at = expires_at
        lease.is_gold = is_gold
        lease.save(update_fields=["status", "expires_at", "is_gold", "updated_at"])
    lease.item = item
    return lease


def item_claim(
    *,
    project: Project,
    rater: AbstractBaseUser,
    hold: int = 1,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> list[Hold]:
    """Return up to `hold` items the rater may label now, oldest hold first.

    The rater's current leases and assignments come first, so reloading the page returns the
    same item; new leases are taken only to fill up to `hold` (at most MAX_HOLD: the page keeps
    the next item prefetched). An empty list means the rater's queue is empty.
    """
    now = now or timezone.now()
    hold = max(1, min(hold, MAX_HOLD))
    leases_reclaim_expired(project=project, now=now)
    rng = rng or random.Random()
    with transaction.atomic():
        _membership_lock(project, rater)
        holds = _holds(project, rater, now)
        expires_at = now + timedelta(minutes=project.lease_minutes)
        while len(holds) < hold:
            item = None
            if project.gold_rate > 0 and rng.random() < project.gold_rate:
                item = _pick_gold(project, rater)
            is_gold = item is not None
            if item is None:
                item = _pick_regular(project, rater)
            if item is None:
                break
            _take_slot(item, now)
            assignment = _lease_create(project, item, rater, expires_at, is_gold)
            holds.append(assignment)
    return [Hold(assignment=a, item=a.item) for a in holds[:hold]]


def lease_renew(*, assignment: Assignment, now: datetime | None = None) -> bool:
    """Extend a lease by the project's lease length (the page calls this while the rater is still
    looking at the item). A lease past its expiry that no claim has reclaimed yet still holds its
    slot, so it is renewed too, as `annotation_submit` would accept it. Returns False if the lease
    was reclaimed (or is not a lease)."""
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
                    Q(status=ItemStatus.IN_PROGRESS, slots_taken=freed), then=Value(ItemStatus.OPEN)
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


@dataclass(frozen=True)
class AssignResult:
    assigned: list[int]  # item ids now assigned to the rater
    already_held: list[int]  # the rater already had (or had done) these
    full: list[int]  # k raters already hold or labeled these, or a lead resolved them
    unknown: list[str]  # keys or ids not found in the project


def items_assign(
    *,
    project: Project,
    rater: AbstractBaseUser,
    assigned_by: AbstractBaseUser | None,
    item_ids: Iterable[int] = (),
    keys: Iterable[str] = (),
    now: datetime | None = None,
) -> AssignResult:
    """A lead assigns a batch of items to a named rater. Assigned items come first in the
    rater's queue and do not expire; each takes one of the item's k slots. Items the rater
    already holds or did, and items already full, are reported and left alone."""
    now = now or timezone.now()
    wanted_ids = {int(i) for i in item_ids}
    wanted_keys = {str(k) for k in keys}
    if not Membership.objects.filter(project=project, user=rater).exists():
        raise NotAMember(f"{rater} is not a member of this project.")
    with transaction.atomic():
        # Lock the items in pk order (see slots_release) so concurrent claims and other
        # assignments see consistent slot counts.
        found: Sequence[tuple[int, str, int, bool, str]] = list(
            Item.objects.select_for_update()
            .filter(project=project)
            .filter(Q(pk__in=wanted_ids) | Q(key__in=wanted_keys))
            .order_by("pk")
            .values_list("pk", "key", "slots_taken", "is_gold", "status")
        )
        unknown = sorted(
            (wanted_keys - {row[1] for row in found})
            | {str(i) for i in wanted_ids - {row[0] for row in found}}
        )
        held = set(
            Assignment.objects.filter(
                rater=rater, item_id__in=[row[0] for row in found]
            ).values_list("item_id", flat=True)
        )
        k = project.raters_per_item
        assigned, full = [], []
        for pk, _, taken, gold, status in found:
            if pk in held:
                continue
            has_room = status != ItemStatus.RESOLVED and (gold or taken < k)
            (assigned if has_room else full).append(pk)
        Assignment.objects.bulk_create(
            [
                Assignment(
                    project=project,
                    item_id=pk,
                    rater=rater,
                    status=AssignmentStatus.ASSIGNED,
                    assigned_by=assigned_by,
                )
                for pk in assigned
            ]
        )
        Item.objects.filter(pk__in=assigned).update(
            slots_taken=F("slots_taken") + 1, status=STATUS_AFTER_TAKE, updated_at=now
        )
    return AssignResult(assigned=assigned, already_held=sorted(held), full=full, unknown=unknown)
