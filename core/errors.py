"""Errors a service raises that every door (page, API, admin) must show the same way."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class Conflict(ValidationError):
    """The request is well formed but the state of the data forbids it (a label in use, a
    label kind that annotations already follow, an archived project). A ValidationError, so
    forms and the admin show its message like any other; the API answers 409 with code
    `error_code` (a subclass names its own, e.g. `project_archived`)."""

    code = "conflict"
    error_code = "conflict"
