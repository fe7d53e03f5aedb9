"""Changes a lead makes to single items: priority and the gold answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core import sql
from projects.models import Item, Project
from projects.services.archive import project_ensure_writable
from projects.values import InvalidValue, annotation_value_clean

ITEM_UPDATE_FIELDS = ("priority", "gold_value", "is_gold")


@transaction.atomic
def item_update(*, item: Item, **fields: Any) -> Item:
    """Set an item's priority (higher is served first), gold answer, or gold flag.

    A gold answer is checked against the project's label schema like an annotation; an item is
    gold only while it has one.
    """
    unknown = set(fields) - set(ITEM_UPDATE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown item fields: {', '.join(sorted(unknown))}.")
    project_ensure_writable(project=item.project)
    if "gold_value" in fields and fields["gold_value"] is not None:
        fields["gold_value"] = gold_value_clean(project=item.project, value=fields["gold_value"])
    for name, value in fields.items():
        setattr(item, name, value)
    if item.is_gold and item.gold_value is None:
        raise ValidationError({"is_gold": "A gold item needs a gold_value (its right answer)."})
    gold_changed = bool({"gold_value", "is_gold"} & set(fields))
    if gold_changed:
        # What the item's gold results rest on changed: computations redo it.
        item.change_count = F("change_count") + 1
    item.save(update_fields=[*fields, *(["change_count"] if gold_changed else []), "updated_at"])
    if gold_changed:
        item.refresh_from_db(fields=["change_count"])
    return item


def items_status_set(*, statuses: dict[int, str], now: datetime | None = None) -> None:
    """Set items' agreement statuses (labeled -> agreed | conflict -> resolved, DESIGN.md),
    one UPDATE per status. Precondition: the caller holds the items' row locks (agreement's
    evaluation runs inside the transaction that changed their labels)."""
    for text, params in items_status_statements(statuses=statuses, now=now):
        sql.execute(text, params)


def items_status_statements(
    *, statuses: dict[int, str], now: datetime | None = None
) -> list[tuple[str, list[Any]]]:
    """The UPDATEs of `items_status_set`, for a caller that sends them with its own writes in
    one round trip (the submit of an item's last label). Same precondition."""
    now = now or timezone.now()
    by_status: dict[str, list[int]] = {}
    for item_id, status in statuses.items():
        by_status.setdefault(status, []).append(item_id)
    stamp = sql.param(Item, "updated_at", now)
    statements = []
    for status, item_ids in by_status.items():
        # Hand-written: the submit of an item's last label runs it, and the ORM's update cost
        # some 2 ms of CPU there, more than the statement.
        marks = ", ".join(["%s"] * len(item_ids))
        statements.append((
            f"UPDATE projects_item SET status = %s, updated_at = %s WHERE id IN ({marks})",
            [status, stamp, *item_ids],
        ))  # fmt: skip
    return statements


def items_status_set_from(*, table: str, now: datetime | None = None) -> int:
    """Set the agreement statuses listed in the (temporary) table `table` (columns item_id,
    status), in one statement, skipping items already so; returns how many changed. The
    precondition of `items_status_set`."""
    stamp = sql.param(Item, "updated_at", now or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE projects_item i SET status = t.status, updated_at = %s FROM {table} t"
            " WHERE i.id = t.item_id AND i.status <> t.status",
            [stamp],
        )
        return cursor.rowcount


def gold_value_clean(*, project: Project, value: Any) -> Any:
    """A gold answer in canonical form, checked against the project's label schema like an
    annotation's value; raises ValidationError on `gold_value`."""
    label_values = set(project.labels.values_list("value", flat=True))
    try:
        return annotation_value_clean(project=project, value=value, label_values=label_values)
    except InvalidValue as error:
        raise ValidationError({"gold_value": error.message}) from error
