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

import functools
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import connection
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
from projects.services.items import items_status_statements

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
    """The items' labeling counters, conflict and label-of-record source, in id order (one
    query; and one more for the gold answers of gold items, when there are any)."""
    if not item_ids:
        return []
    marks = ", ".join(["%s"] * len(item_ids))
    rows = sql.fetch_all(
        "SELECT i.id, i.status, i.annotation_count, i.extra_slots, i.is_gold, i.change_count,"
        " c.id, c.status, r.source FROM projects_item i"
        " LEFT JOIN agreement_conflict c ON c.item_id = i.id"
        " LEFT JOIN agreement_labelofrecord r ON r.item_id = i.id"
        f" WHERE i.id IN ({marks}) ORDER BY i.id",
        list(item_ids),
    )
    gold_ids = [row[0] for row in rows if row[4]]
    gold = (
        dict(Item.objects.filter(pk__in=gold_ids).values_list("pk", "gold_value"))
        if gold_ids else {}
    )  # fmt: skip
    return [
        ItemState(
            id=pk,
            status=status,
            annotation_count=count,
            extra_slots=extra,
            is_gold=bool(is_gold),
            gold_value=gold.get(pk),
            change_count=changes,
            conflict_id=conflict_id,
            conflict_status=conflict_status,
            record_source=source,
        )
        for pk, status, count, extra, is_gold, changes, conflict_id, conflict_status, source in rows
    ]


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
    chosen = _chosen_labels(item_ids) if project.label_kind == LabelKind.MULTI else {}
    votes: dict[int, list[Vote]] = defaultdict(list)
    for item_id, annotation_id, rater_id, revision, label_value, rating in rows:
        value = _value(project, label_value, rating, chosen.get(annotation_id, ()))
        votes[item_id].append(Vote(annotation_id, rater_id, revision, value))
    return votes


def _read(
    project: Project, item_ids: Sequence[int]
) -> tuple[list[ItemState], dict[int, list[Vote]]]:
    """The states of the items whose labels are all in, and their votes: one query (two for a
    multi-label project, three when gold items are among them). The submit of an item's last
    label pays for this read, so it is one round trip."""
    if not item_ids:
        return [], {}
    marks = ", ".join(["%s"] * len(item_ids))
    rows = sql.fetch_all(
        "SELECT i.id, i.status, i.annotation_count, i.extra_slots, i.is_gold, i.change_count,"
        " c.id, c.status, r.source, a.id, a.rater_id, a.revision, l.value, a.rating"
        " FROM projects_item i LEFT JOIN agreement_conflict c ON c.item_id = i.id"
        " LEFT JOIN agreement_labelofrecord r ON r.item_id = i.id"
        " LEFT JOIN labeling_annotation a ON a.item_id = i.id"
        " LEFT JOIN projects_label l ON l.id = a.label_id"
        f" WHERE i.id IN ({marks}) ORDER BY i.id, a.id",
        list(item_ids),
    )
    k = project.raters_per_item
    states: dict[int, ItemState] = {}
    found: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        item_id = row[0]
        if item_id not in states:
            states[item_id] = ItemState(
                id=item_id, status=row[1], annotation_count=row[2], extra_slots=row[3],
                is_gold=bool(row[4]), gold_value=None, change_count=row[5], conflict_id=row[6],
                conflict_status=row[7], record_source=row[8],
            )  # fmt: skip
        if row[9] is not None:
            found[item_id].append(row[9:])
    chosen = [state for state in states.values() if state.all_in(k)]
    if gold_ids := [state.id for state in chosen if state.is_gold]:
        gold = dict(Item.objects.filter(pk__in=gold_ids).values_list("pk", "gold_value"))
        chosen = [replace(s, gold_value=gold.get(s.id)) if s.is_gold else s for s in chosen]
    labels: dict[int, set[str]] = defaultdict(set)
    if project.label_kind == LabelKind.MULTI and chosen:
        labels = _chosen_labels([state.id for state in chosen])
    votes: dict[int, list[Vote]] = {}
    for state in chosen:
        votes[state.id] = [
            Vote(annotation_id, rater_id, revision, _value(project, label_value, rating,
                                                           labels.get(annotation_id, ())))
            for annotation_id, rater_id, revision, label_value, rating in found[state.id]
        ]  # fmt: skip
    return chosen, votes


def _value(project: Project, label_value: Any, rating: Any, chosen: Iterable[str]) -> Hashable:
    if project.label_kind == LabelKind.MULTI:
        return frozenset(chosen)
    if project.label_kind == LabelKind.RATING:
        return int(rating)
    return label_value


def _chosen_labels(item_ids: Sequence[int]) -> dict[int, set[str]]:
    """The chosen labels of the items' multi-label annotations, by annotation id."""
    marks = ", ".join(["%s"] * len(item_ids))
    chosen: dict[int, set[str]] = defaultdict(set)
    for annotation_id, value in sql.fetch_all(
        "SELECT c.annotation_id, l.value FROM labeling_annotationlabel c"
        " JOIN projects_label l ON l.id = c.label_id"
        " JOIN labeling_annotation a ON a.id = c.annotation_id"
        f" WHERE a.item_id IN ({marks})",
        list(item_ids),
    ):
        chosen[annotation_id].add(value)
    return chosen


def api_value(value: Hashable | None) -> Any:
    """A consensus in the API's value shape (a multi-label set as a sorted list)."""
    if isinstance(value, frozenset):
        return sorted(str(label) for label in value)
    return value


@dataclass
class _Writes:
    agreements: list[list[Any]]  # rows of AGREEMENT_COLUMNS
    records: list[list[Any]]  # rows of RECORD_COLUMNS
    records_dropped: list[int]
    statuses: dict[int, str]
    conflicts_new: list[list[Any]]  # rows of CONFLICT_COLUMNS
    conflict_changes: list[tuple[int, str, Outcome]]  # (conflict id, new status, outcome)
    events: list[list[Any]]  # rows of EVENT_COLUMNS


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
    states, votes = _read(project, sorted(set(item_ids)))
    if not states:
        return {}
    rule = project_rule(project)
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
    writes.agreements.append([
        state.id, project.pk, state.change_count, len(votes), outcome.observed,
        api_value(outcome.consensus), outcome.method, outcome.confidence, outcome.tie,
        outcome.passes, outcome.label_pair[:300], [v.annotation_id for v in votes], now,
    ])  # fmt: skip
    words = REASON_WORDS.get(reason, reason)

    def event(kind: str, message: str) -> None:
        writes.events.append([state.id, project.pk, kind, actor_id, message[:500], now])

    def status(new: str) -> None:
        if new != state.status:
            writes.statuses[state.id] = new

    consensus_words = describe_outcome(outcome)
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
        writes.records.append([
            state.id, project.pk, state.gold_value, LabelSource.GOLD, Method.GOLD, 1.0, {}, None,
            now,
        ])  # fmt: skip
        return
    if outcome.passes:
        status(ItemStatus.AGREED)
        writes.records.append([
            state.id, project.pk, api_value(outcome.consensus), LabelSource.CONSENSUS,
            outcome.method, outcome.confidence,
            {str(v.annotation_id): v.revision for v in votes}, None, now,
        ])  # fmt: skip
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
        writes.conflicts_new.append([
            state.id, project.pk, ConflictStatus.OPEN, outcome.observed,
            outcome.label_pair[:300], now, 1,
        ])  # fmt: skip
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


def describe_outcome(outcome: Outcome) -> str:
    """An outcome as the history says it: "dog (67%, majority)", "a tie (cat 50%, dog 50%)"."""
    if outcome.consensus is None:
        shares = ", ".join(
            f"{api_value(value)} {share:.0%}"
            for value, share in sorted(outcome.shares.items(), key=lambda kv: -kv[1])
        )
        return f"a tie ({shares})" if outcome.tie else "no consensus"
    share = f"{outcome.confidence:.0%}" if outcome.confidence is not None else "?"
    return f"{_words(outcome.consensus)} ({share}, {outcome.method.replace('_', '-')})"


def _words(value: Hashable) -> str:
    """A value as a history line says it: a multi-label set as its labels ("none" if empty)."""
    if isinstance(value, frozenset):
        return " + ".join(sorted(str(label) for label in value)) or "none"
    return str(value)


AGREEMENT_COLUMNS = [
    "item_id", "project_id", "change_count", "n_annotations", "observed", "consensus", "method",
    "confidence", "tie", "passes", "label_pair", "annotation_ids", "evaluated_at",
]  # fmt: skip
CONFLICT_COLUMNS = [
    "item_id", "project_id", "status", "observed", "label_pair", "opened_at", "times_opened",
]  # fmt: skip
EVENT_COLUMNS = ["item_id", "project_id", "kind", "actor_id", "message", "created_at"]
RECORD_COLUMNS = [
    "item_id", "project_id", "value", "source", "method", "confidence", "annotations",
    "resolution_id", "updated_at",
]  # fmt: skip
UPSERT_BATCH = 1000


def _insert(model: type[Any], columns: list[str], rows: list[list[Any]]) -> tuple[str, list[Any]]:
    """One multi-row INSERT (see `_upsert` for why not the ORM)."""
    adapters = _adapters(model, tuple(columns))  # type: ignore[arg-type]
    params = [
        value if adapt is None else adapt(value)
        for row in rows
        for adapt, value in zip(adapters, row, strict=True)
    ]
    marks = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    return f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES {marks}", params


def _upsert(model: type[Any], columns: list[str], rows: list[list[Any]]) -> tuple[str, list[Any]]:
    """One statement that inserts rows, or updates the row an item already has (the ORM's
    bulk_create builds a model instance per row, which cost the submit path more than the SQL).
    Values are adapted as the ORM would (`sql.param`: JSON, booleans, datetimes)."""
    adapters = _adapters(model, tuple(columns))  # type: ignore[arg-type]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "item_id")
    params = [
        value if adapt is None else adapt(value)
        for row in rows
        for adapt, value in zip(adapters, row, strict=True)
    ]
    marks = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    return (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES {marks}"
        f" ON CONFLICT (item_id) DO UPDATE SET {updates}",
        params,
    )


@functools.cache
def _adapters(model: type[Any], columns: tuple[str, ...]) -> list[Callable[[Any], Any] | None]:
    """Per column, how the ORM would adapt a value for this database (`sql.param`), or None
    where a Python int, float, bool or str goes as it is: JSON and datetimes only."""
    adapters: list[Callable[[Any], Any] | None] = []
    for column in columns:
        name = column.removesuffix("_id") if column.endswith("_id") else column
        field = model._meta.get_field(name)
        if field.get_internal_type() in ("JSONField", "DateTimeField"):
            adapters.append(functools.partial(sql.param, model, field.name))
        else:
            adapters.append(None)
    return adapters


def _statements(writes: _Writes) -> list[tuple[str, list[Any]]]:
    """The writes of agreement's own new rows: outcomes, labels of record (and those that no
    longer hold), new conflicts, history lines."""
    statements = []
    for start in range(0, len(writes.agreements), UPSERT_BATCH):
        chunk = writes.agreements[start : start + UPSERT_BATCH]
        statements.append(_upsert(ItemAgreement, AGREEMENT_COLUMNS, chunk))
    for start in range(0, len(writes.records), UPSERT_BATCH):
        chunk = writes.records[start : start + UPSERT_BATCH]
        statements.append(_upsert(LabelOfRecord, RECORD_COLUMNS, chunk))
    if writes.records_dropped:
        marks = ", ".join(["%s"] * len(writes.records_dropped))
        statements.append((
            f"DELETE FROM agreement_labelofrecord WHERE item_id IN ({marks})"
            " AND source <> 'resolution'",
            list(writes.records_dropped),
        ))  # fmt: skip
    for start in range(0, len(writes.conflicts_new), UPSERT_BATCH):
        chunk = writes.conflicts_new[start : start + UPSERT_BATCH]
        statements.append(_insert(Conflict, CONFLICT_COLUMNS, chunk))
    for start in range(0, len(writes.events), UPSERT_BATCH):
        statements.append(
            _insert(ItemEvent, EVENT_COLUMNS, writes.events[start : start + UPSERT_BATCH])
        )
    return statements


def _write(project: Project, writes: _Writes, now: datetime) -> None:
    statements = _statements(writes)
    # The statuses last: an item's conflict is moved below, before its status would be.
    statuses = items_status_statements(statuses=writes.statuses, now=now)
    if connection.vendor == "postgresql" and 1 < len(statements) + len(statuses) <= 6:
        # One round trip for a single item (its outcome and label of record, or a new conflict
        # and its history line, and its status), as data-modifying CTEs of one statement: the
        # submit of an item's last label pays for it. (A conflict that changes status is
        # updated with the ORM below, so it waits for the statement; its item's status update
        # does not depend on it.)
        statements += statuses
        statuses = []
        *first, (last_sql, last_params) = statements
        ctes = ", ".join(f"w{i} AS ({text})" for i, (text, _) in enumerate(first))
        sql.execute(
            f"WITH {ctes} {last_sql}", [p for _, params in first for p in params] + last_params
        )
    else:
        for text, params in statements:
            sql.execute(text, params)
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
    for text, params in statuses:
        sql.execute(text, params)
