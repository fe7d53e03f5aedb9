"""Telling the layers above that an item's labels changed.

Labeling stands below agreement (DESIGN.md), so it cannot call agreement's evaluation itself.
Agreement registers its evaluation here once, at start-up (`AgreementConfig.ready`), and every
service of labeling that adds, changes or imports annotations calls `labels_changed` inside its
transaction, after the item rows are updated: the listener then sees the new annotations and
counters, under the same row locks, and whatever it writes commits or rolls back with them.

One explicit call per write path, not a Django signal: a reader of a service sees where the
agreement of its items is brought up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from projects.models import Project


class ChangeReason:
    SUBMIT = "submit"  # a rater's first label on the item
    EDIT = "edit"  # a rater changed their label
    IMPORT = "import"  # annotations imported from a file
    RECOUNT = "recount"  # counters repaired (`labeling.counters`): the item is labeled now


@dataclass(frozen=True)
class LabelsChanged:
    project: Project
    item_ids: Sequence[int]
    reason: str
    actor_id: int | None = None  # who made the change (the rater, or the lead who imported)
    # The items' labeling status after the change, when the caller has it at hand (the submit
    # reads it back from its UPDATE): a listener can then skip items still waiting for raters
    # without a query.
    statuses: dict[int, str] = field(default_factory=dict)


Listener = Callable[[LabelsChanged], None]
_listeners: list[Listener] = []


def labels_changed_listen(listener: Listener) -> None:
    """Register a listener (once per process: a second registration of the same one is a no-op)."""
    if listener not in _listeners:
        _listeners.append(listener)


def labels_changed(change: LabelsChanged) -> None:
    """Call every listener. Precondition: inside the transaction that changed the annotations."""
    for listener in _listeners:
        listener(change)
