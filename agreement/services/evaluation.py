"""Bringing items' agreement up to date after their labels changed (the live evaluation).

`items_evaluate` runs inside the transaction that changed the items' annotations (a submit, an
edit, an import batch: `labeling.changes` calls it through `labels_changed_handle`), or that
took a lead's decision. For each item whose labels are all in (k + extra slots), it computes the
consensus under the project's rule (`agreement.rules`), and keeps in step:
- `ItemAgreement` (the outcome), the item's status (agreed, conflict, or resolved as it was),
- the `Conflict` row (opened, reopened, settled), the `LabelOfRecord` (consensus or gold; a
  lead's resolution always stands), and the item's history (`ItemEvent`) where something a lead
  would want to know happened.

Precondition: the caller holds the items' row locks (the submit and the import have updated
them), so two evaluations of one item are serialized and the later one sees the newer labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from agreement.models import (
    OPEN_STATUSES,
    Conflict,
    ConflictStatus,
    EventKind,
    ItemAgreement,
    ItemEvent,
    LabelOfRecord,
    LabelSource,
    Method,
    ProjectAgreement,
)
from agreement.rules import Outcome, Rule, Vote, item_outcome
from core import sql
from labeling.changes import ChangeReason, LabelsChanged
from projects.models import AgreementRule, Item, ItemStatus, LabelKind, Project
from projects.services.items import items_status_set

WAITING_FOR_RATERS = (ItemStatus.OPEN, ItemStatus.IN_PROGRESS)
REASON_WORDS = {
    ChangeReason.SUBMIT: "a new label",
    ChangeReason.EDIT: "a rater changed their label",
    ChangeReason.IMPORT: "imported labels",
    ChangeReason.RECOUNT: "a repair of its counters",
    "recompute": "a full recompute",
    "resolution": "a lead's decision",
}


def labels_changed_handle(change: LabelsChanged) -> None:
    """The listener `agreement.apps` registers with labeling: evaluate the changed items that
    have all their labels. A submit that is not an item's last label costs nothing here."""
    if change.statuses and all(s in WAITING_FOR_RATERS for s in change.statuses.values()):
        return
    items_evaluate(
        project=change.project, item_ids=change.item_ids, reason=change.reason,
        actor_id=change.actor_id,
    )  # fmt: skip


@dataclass(frozen=True)
class ItemState:
    id: int
    status: str
    annotation_count: int
    extra_slots: int
    is_gold: bool
    gold_value: Any
    change_count: int
    conflict_id: int | None
    conflict_status: str | None
    record_source: str | None

    def all_in(self, k: int) -> bool:
        return self.annotation_count >= k + self.extra_slots


def project_rule(project: Project) -> Rule:
    """The project's rule, with the label model of its last recompute when the rule needs one."""
    model = None
    if project.agreement_rule in (AgreementRule.DAWID_SKENE, AgreementRule.WEIGHTED):
        found = ProjectAgreement.objects.filter(project=project).values_list("model", flat=True)
        # No recompute yet: Dawid-Skene has no fit (the majority stands in), and the weighted
        # vote weighs every rater by the prior accuracy.
        model = (found.first() or {}).get(project.agreement_rule) or None
    return Rule(
        name=project.agreement_rule, threshold=project.agreement_threshold,
        kind=project.label_kind, model=model,
    )  # fmt: skip


def item_states(item_ids: Sequence[int]) -> list[ItemState]:
    rows = (
        Item.objects.filter(pk__in=item_ids)
        .order_by("pk")
        .values_list(
            "pk", "status", "annotation_count", "extra_slots", "is_gold", "gold_value",
            "change_count", "conflict__id", "conflict__status", "label_of_record__source",
        )
    )  # fmt: skip
    return [ItemState(*row) for row in rows]


def votes_of(project: Project, item_ids: Sequence[int]) -> dict[int, list[Vote]]:
    """Each item's current annotations as votes, in annotation order."""
    if not item_ids:
        return {}
    marks = ", ".join(["%s"] * len(item_ids))
    rows = sql.fetch_all(
        "SELECT a.item_id, a.id, a.rater_id, a.revision, l.value, a.rating"
        " FROM labeling_annotation a LEFT JOIN projects_label l ON l.id = a.label_id"
        f" WHERE a.item_id IN ({marks}) ORDER BY a.item_id, a.id",
        list(item_ids),
    )
    chosen: dict[int, set[str]] = defaultdict(set)
    if project.label_kind == LabelKind.MULTI:
        for annotation_id, chosen_value in sql.fetch_all(
            "SELECT c.annotation_id, l.value FROM labeling_annotationlabel c"
            " JOIN projects_label l ON l.id = c.label_id"
            " JOIN labeling_annotation a ON a.id = c.annotation_id"
            f" WHERE a.item_id IN ({marks})",
            list(item_ids),
        ):
            chosen[annotation_id].add(chosen_value)
    votes: dict[int, list[Vote]] = defaultdict(list)
    for item_id, annotation_id, rater_id, revision, label_value, rating in rows:
        value: Hashable
        if project.label_kind == LabelKind.MULTI:
            value = frozenset(chosen.get(annotation_id, ()))
        elif project.label_kind == LabelKind.RATING:
            value = int(rating)
        else:
            value = label_value
        votes[item_id].append(Vote(annotation_id, rater_id, revision, value))
    return votes


def api_value(value: Hashable | None) -> Any:
    """A consensus in the API's value shape (a multi-label set as a sorted list)."""
    if isinstance(value, frozenset):
        return sorted(str(label) for label in value)
    return value


@dataclass
class _Writes:
    agreements: list[ItemAgreement]
    records: list[LabelOfRecord]
    records_dropped: list[int]
    statuses: dict[int, str]
    conflicts_new: list[Conflict]
    conflict_changes: list[tuple[int, str, Outcome]]  # (conflict id, new status, outcome)
    events: list[ItemEvent]


def items_evaluate(
    *,
    project: Project,
    item_ids: Iterable[int],
    reason: str,
    actor_id: int | None = None,
    now: datetime | None = None,
) -> dict[int, Outcome]:
    """Evaluate the items whose labels are all in and write what follows (the module says
    what). Returns each evaluated item's outcome."""
    now = now or timezone.now()
    states = [s for s in item_states(sorted(set(item_ids))) if s.all_in(project.raters_per_item)]
    if not states:
        return {}
    rule = project_rule(project)
    votes = votes_of(project, [state.id for state in states])
    outcomes = {state.id: item_outcome(votes.get(state.id, []), rule) for state in states}
    outcomes_apply(
        project=project, states=states, votes=votes, outcomes=outcomes, reason=reason,
        actor_id=actor_id, now=now,
    )  # fmt: skip
    return outcomes


def outcomes_apply(
    *, project: Project, states: Sequence[ItemState], votes: dict[int, list[Vote]],
    outcomes: dict[int, Outcome], reason: str, actor_id: int | None, now: datetime,
) -> None:  # fmt: skip
    """Write what follows from the items' outcomes (the live evaluation's, or a recompute's).
    Precondition: the caller holds the items' row locks and read `states` under them."""
    writes = _Writes([], [], [], {}, [], [], [])
    for state in states:
        votes_now = votes.get(state.id, [])
        _plan(project, state, votes_now, outcomes[state.id], reason, actor_id, now, writes)
    _write(project, writes, now)


def _plan(
    project: Project, state: ItemState, votes: Sequence[Vote], outcome: Outcome, reason: str,
    actor_id: int | None, now: datetime, writes: _Writes,
) -> None:  # fmt: skip
    """Decide, for one item, what to write (no query)."""
    writes.agreements.append(
        ItemAgreement(
            item_id=state.id, project_id=project.pk, change_count=state.change_count,
            n_annotations=len(votes), observed=outcome.observed,
            consensus=api_value(outcome.consensus), method=outcome.method,
            confidence=outcome.confidence, tie=outcome.tie, passes=outcome.passes,
            label_pair=outcome.label_pair[:300], annotation_ids=[v.annotation_id for v in votes],
            evaluated_at=now,
        )
    )  # fmt: skip
    words = REASON_WORDS.get(reason, reason)

    def event(kind: str, message: str) -> None:
        writes.events.append(
            ItemEvent(
                item_id=state.id, project_id=project.pk, kind=kind, actor_id=actor_id,
                message=message[:500], created_at=now,
            )
        )  # fmt: skip

    def status(new: str) -> None:
        if new != state.status:
            writes.statuses[state.id] = new

    consensus_words = _describe(outcome)
    if state.conflict_status in (ConflictStatus.RESOLVED, ConflictStatus.AMBIGUOUS):
        # A lead's decision stands; the history says what the raters' labels say now.
        if reason != "recompute":
            decision = (
                "resolution"
                if state.conflict_status == ConflictStatus.RESOLVED
                else ("ambiguity mark")
            )
            event(
                EventKind.REEVALUATED,
                f"Re-evaluated after {words}: the raters' consensus is now {consensus_words}; "
                f"the lead's {decision} stands.",
            )
        return
    if state.is_gold:
        # A gold item is never a conflict: a rater who missed it is counted against the rater
        # (the scorecards' gold accuracy).
        status(ItemStatus.AGREED)
        writes.records.append(
            LabelOfRecord(
                item_id=state.id, project_id=project.pk, value=state.gold_value,
                source=LabelSource.GOLD, method=Method.GOLD, confidence=1.0, annotations={},
                updated_at=now,
            )
        )  # fmt: skip
        return
    if outcome.passes:
        status(ItemStatus.AGREED)
        writes.records.append(
            LabelOfRecord(
                item_id=state.id, project_id=project.pk, value=api_value(outcome.consensus),
                source=LabelSource.CONSENSUS, method=outcome.method,
                confidence=outcome.confidence,
                annotations={str(v.annotation_id): v.revision for v in votes}, updated_at=now,
            )
        )  # fmt: skip
        if state.conflict_status in OPEN_STATUSES:
            writes.conflict_changes.append((state.conflict_id, ConflictStatus.SETTLED, outcome))  # type: ignore[arg-type]
            event(EventKind.SETTLED, f"After {words}, the raters agree: {consensus_words}.")
        elif state.status == ItemStatus.CONFLICT or (
            state.status == ItemStatus.AGREED and reason in (ChangeReason.EDIT, ChangeReason.IMPORT)
        ):
            event(EventKind.REEVALUATED, f"Re-evaluated after {words}: {consensus_words}.")
        return
    # Fails the rule: a conflict, open for a lead.
    status(ItemStatus.CONFLICT)
    if state.record_source is not None:
        writes.records_dropped.append(state.id)
    if state.conflict_id is None:
        writes.conflicts_new.append(
            Conflict(
                item_id=state.id, project_id=project.pk, status=ConflictStatus.OPEN,
                observed=outcome.observed, label_pair=outcome.label_pair[:300], opened_at=now,
            )
        )  # fmt: skip
        event(EventKind.CONFLICT, f"Became a conflict after {words}: {consensus_words}.")
    else:
        writes.conflict_changes.append((state.conflict_id, ConflictStatus.OPEN, outcome))
        if state.conflict_status == ConflictStatus.WAITING:
            event(
                EventKind.CONFLICT,
                f"One more rater labeled it; still a conflict: {consensus_words}.",
            )
        elif state.conflict_status == ConflictStatus.SETTLED:
            event(EventKind.CONFLICT, f"A conflict again after {words}: {consensus_words}.")


def _describe(outcome: Outcome) -> str:
    if outcome.consensus is None:
        shares = ", ".join(
            f"{api_value(value)} {share:.0%}"
            for value, share in sorted(outcome.shares.items(), key=lambda kv: -kv[1])
        )
        return f"a tie ({shares})" if outcome.tie else "no consensus"
    share = f"{outcome.confidence:.0%}" if outcome.confidence is not None else "?"
    return f"{api_value(outcome.consensus)} ({share}, {outcome.method.replace('_', '-')})"


AGREEMENT_FIELDS = [
    "change_count", "n_annotations", "observed", "consensus", "method", "confidence", "tie",
    "passes", "label_pair", "annotation_ids", "evaluated_at",
]  # fmt: skip
RECORD_FIELDS = [
    "value",
    "source",
    "method",
    "confidence",
    "annotations",
    "resolution",
    "updated_at",
]


def _write(project: Project, writes: _Writes, now: datetime) -> None:
    ItemAgreement.objects.bulk_create(
        writes.agreements, update_conflicts=True, unique_fields=["item"],
        update_fields=AGREEMENT_FIELDS,
    )  # fmt: skip
    if writes.records:
        LabelOfRecord.objects.bulk_create(
            writes.records, update_conflicts=True, unique_fields=["item"],
            update_fields=RECORD_FIELDS,
        )  # fmt: skip
    if writes.records_dropped:
        LabelOfRecord.objects.filter(item_id__in=writes.records_dropped).exclude(
            source=LabelSource.RESOLUTION
        ).delete()
    if writes.conflicts_new:
        Conflict.objects.bulk_create(writes.conflicts_new)
    for conflict_id, status, outcome in writes.conflict_changes:
        fields: dict[str, Any] = {
            "status": status, "observed": outcome.observed, "label_pair": outcome.label_pair[:300],
        }  # fmt: skip
        if status == ConflictStatus.SETTLED:
            fields["closed_at"] = now
        else:
            fields["closed_at"] = None
        conflicts = Conflict.objects.filter(pk=conflict_id)
        if status == ConflictStatus.OPEN:
            # Reopened by a change of labels (settled before): counted as another opening.
            conflicts.filter(status=ConflictStatus.SETTLED).update(
                times_opened=F("times_opened") + 1
            )
        conflicts.update(**fields)
    if writes.events:
        ItemEvent.objects.bulk_create(writes.events)
    if writes.statuses:
        items_status_set(statuses=writes.statuses, now=now)
