"""Telling the layers above that a project's settings changed.

Agreement decides items by the project's rule; projects stands below it and cannot call it.
Agreement registers a listener here at start-up (`AgreementConfig.ready`), and
`project_update` calls `settings_changed` inside its transaction with the names of the settings
that changed (as `labeling.changes` does for labels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from projects.models import Project


@dataclass(frozen=True)
class SettingsChanged:
    project: Project
    names: frozenset[str]


Listener = Callable[[SettingsChanged], None]
_listeners: list[Listener] = []


def settings_changed_listen(listener: Listener) -> None:
    """Register a listener (once per process: a second registration of the same one is a no-op)."""
    if listener not in _listeners:
        _listeners.append(listener)


def settings_changed(change: SettingsChanged) -> None:
    """Call every listener. Precondition: inside the transaction that saved the settings."""
    for listener in _listeners:
        listener(change)
