"""Checks of the assignment invariants, recomputed from the Assignment and Annotation rows.

Shared by the engine tests and the concurrency tests: the denormalized counters on Item must equal
what the rows say, whatever mix of claims, submits, skips and reclaims led there.
"""

from __future__ import annotations

from collections import Counter

from labeling.models import Annotation, Assignment, AssignmentStatus
from projects.models import Item, ItemStatus, Project

# Statuses the engine sets itself; later ones (agreed, conflict, resolved) belong to other code.
ENGINE_STATUSES = (ItemStatus.OPEN, ItemStatus.IN_PROGRESS, ItemStatus.LABELED)


def invariant_violations(project: Project) -> list[str]:
    """Every way the project's items disagree with their rows, as readable lines (empty: fine)."""
    k = project.raters_per_item
    rows = Assignment.objects.filter(project=project)
    holders = Counter(
        rows.exclude(status__in=(AssignmentStatus.SKIPPED, AssignmentStatus.EXPIRED)).values_list(
            "item_id", flat=True
        )
    )
    submitted = Counter(
        rows.filter(status=AssignmentStatus.SUBMITTED).values_list("item_id", flat=True)
    )
    annotations = Counter(
        Annotation.objects.filter(project=project).values_list("item_id", flat=True)
    )
    pairs = Counter(rows.values_list("item_id", "rater_id"))
    problems = [f"item {i} given {n} times to rater {r}" for (i, r), n in pairs.items() if n > 1]
    items = Item.objects.filter(project=project).values_list(
        "pk", "slots_taken", "annotation_count", "status", "is_gold"
    )
    for pk, slots_taken, annotation_count, status, is_gold in items:
        if slots_taken != holders[pk]:
            problems.append(f"item {pk}: slots_taken={slots_taken}, holders={holders[pk]}")
        if annotation_count != annotations[pk]:
            problems.append(
                f"item {pk}: annotation_count={annotation_count}, annotations={annotations[pk]}"
            )
        if submitted[pk] != annotations[pk]:
            problems.append(f"item {pk}: {submitted[pk]} submitted, {annotations[pk]} annotations")
        if not is_gold and holders[pk] > k:
            problems.append(f"item {pk}: {holders[pk]} holders, more than k={k}")
        if status == ItemStatus.LABELED:
            # The last label's own transaction evaluates the item (agreed or a conflict).
            problems.append(f"item {pk}: left labeled, never evaluated")
        elif status in ENGINE_STATUSES:
            expected = (
                "agreed or conflict"
                if annotation_count >= k
                else ItemStatus.IN_PROGRESS
                if slots_taken
                else ItemStatus.OPEN
            )
            if status != expected:
                problems.append(
                    f"item {pk}: status {status}, expected {expected} "
                    f"(slots_taken={slots_taken}, annotations={annotation_count})"
                )
    return problems
