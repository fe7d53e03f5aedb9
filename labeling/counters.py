"""Recount the labeling counters from the rows they summarize, and repair any that drifted.

The claim and the submit keep counters so that neither has to count (`Item.slots_taken`,
`Item.annotation_count`, the item's engine status, and the member's `labeled_total` and
`labeled_today`). Every write path of the application keeps them right under concurrency, but a
few paths lie outside it: a row deleted in the Django admin by cascade, a deploy in which old
workers still served labels while a migration ran, or a hand-written fix in `psql`. This is the
repair, safe to run on a live project (`manage.py recount_counters`): it reads the truth from the
Assignment and Annotation rows and writes only the counters that disagree.

Items go in primary-key batches, each batch locked (in pk order, as every other item locker does)
while it is counted, so a claim or submit on one of those items either commits before the batch
is counted or waits and applies its own increment after the fix. Claims skip the locked items
meanwhile (SKIP LOCKED); nothing waits for more than one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from labeling.models import Annotation, Assignment, AssignmentStatus
from projects.models import Item, ItemStatus, Membership, Project

BATCH = 2_000
# A rater holds one of the item's k slots in these states (see labeling.assignment).
HOLDING = (AssignmentStatus.LEASED, AssignmentStatus.ASSIGNED, AssignmentStatus.SUBMITTED)
# The statuses the engine sets from the counters; later ones (agreed, conflict, resolved) are
# decisions of agreement and of leads, which a recount leaves alone.
ENGINE_STATUSES = (ItemStatus.OPEN, ItemStatus.IN_PROGRESS, ItemStatus.LABELED)
COUNTED = ("slots_taken", "annotation_count", "status")  # the item's fields a recount sets

Progress = Callable[[int, int], None]


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


def _count_of(rows: object) -> Coalesce:
    """The number of `rows` (a queryset filtered on OuterRef("pk")), 0 when there are none."""
    counted = rows.order_by().values("item").annotate(n=Count("pk")).values("n")  # type: ignore[attr-defined]
    return Coalesce(Subquery(counted), Value(0))


def _items_batch(
    project: Project, after: int, *, fix: bool, now: datetime, report: CounterReport
) -> int | None:
    """Check (and with `fix`, repair) the next BATCH items after pk `after`; return the last pk
    checked, or None when no item is left."""
    k = project.raters_per_item
    with transaction.atomic():
        # Locked in pk order: slots_release and items_assign lock items the same way, so the
        # recount cannot deadlock with them, and no claim or submit changes a counter it reads.
        pks = list(
            Item.objects.select_for_update()
            .filter(project=project, pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not pks:
            return None
        report.items_checked += len(pks)
        holders = _count_of(Assignment.objects.filter(item=OuterRef("pk"), status__in=HOLDING))
        annotations = _count_of(Annotation.objects.filter(item=OuterRef("pk")))
        # What the rows say. An annotation always spent a slot (the schema checks
        # annotation_count <= slots_taken); one whose assignment row is gone still counts.
        want_slots = Greatest(F("held"), F("annotated"))
        want_status = Case(
            When(~Q(status__in=ENGINE_STATUSES), then=F("status")),
            When(annotated__gte=k, then=Value(ItemStatus.LABELED)),
            When(want_slots__gt=0, then=Value(ItemStatus.IN_PROGRESS)),
            default=Value(ItemStatus.OPEN),
        )
        drifted = (
            Item.objects.filter(project=project, pk__gte=pks[0], pk__lte=pks[-1])
            .annotate(held=holders, annotated=annotations)
            .annotate(want_slots=want_slots)
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
        repaired = []
        for pk, key, *found in drifted:
            old, new = found[:3], found[3:]
            for name, was, becomes in zip(COUNTED, old, new, strict=True):
                if was != becomes:
                    report.changes.append(f"item {pk} (key {key}): {name} {was} -> {becomes}")
            repaired.append(Item(pk=pk, **dict(zip(COUNTED, new, strict=True)), updated_at=now))
        if fix and repaired:
            Item.objects.bulk_update(repaired, [*COUNTED, "updated_at"])
    return pks[-1]


def _memberships(project: Project, *, fix: bool, now: datetime, report: CounterReport) -> None:
    """Check (and with `fix`, repair) each member's labeled counts."""
    from labeling.selectors import start_of_today

    today, midnight = timezone.localdate(now), start_of_today(now)
    with transaction.atomic():
        # Locked in pk order; a submit takes its rater's row first, so it either counted before
        # this read or adds its own label after the fix.
        members = list(
            Membership.objects.select_for_update()
            .filter(project=project)
            .order_by("pk")
            .select_related("user")
        )
        report.memberships_checked = len(members)
        counts = {
            row["rater_id"]: (row["total"], row["today"])
            for row in Annotation.objects.filter(project=project)
            .order_by()
            .values("rater_id")
            .annotate(total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=midnight)))
        }
        for member in members:
            total, today_count = counts.get(member.user_id, (0, 0))
            shown_today = member.labeled_today if member.labeled_on == today else 0
            if (member.labeled_total, shown_today) == (total, today_count):
                continue
            who = f"member {member.user.get_username()}"
            if member.labeled_total != total:
                report.changes.append(f"{who}: labeled_total {member.labeled_total} -> {total}")
            if shown_today != today_count:
                report.changes.append(f"{who}: labeled_today {shown_today} -> {today_count}")
            if fix:
                member.labeled_total, member.labeled_today = total, today_count
                member.labeled_on = today
                member.save(update_fields=["labeled_total", "labeled_today", "labeled_on"])


def counters_recount(
    *,
    project: Project,
    fix: bool = True,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> CounterReport:
    """Recount the project's labeling counters from its rows; with `fix`, repair those that
    disagree. `progress(done, total)` is called after each batch of items. Running it twice, or
    on a project with nothing wrong, changes nothing."""
    now = now or timezone.now()
    report = CounterReport(project_id=project.pk, fixed=fix)
    total = Item.objects.filter(project=project).count()
    after = 0
    while (last := _items_batch(project, after, fix=fix, now=now, report=report)) is not None:
        after = last
        if progress is not None:
            progress(report.items_checked, max(total, report.items_checked))
    _memberships(project, fix=fix, now=now, report=report)
    if fix and report.changes:
        from labeling.selectors import project_remaining_recount

        # The labeling page's cached figure may have counted the wrong statuses.
        project_remaining_recount(project.pk, locked=False)
    return report
