"""Errors of the labeling workflow. Each has a stable `code` that the API and the page show."""

from __future__ import annotations


class LabelingError(Exception):
    code = "labeling_error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAMember(LabelingError):
    code = "not_a_member"
    status = 403


class ItemNotFound(LabelingError):
    code = "not_found"
    status = 404


class NoLease(LabelingError):
    """The rater holds no live lease or assignment on the item."""

    code = "no_lease"
    status = 409


class LeaseExpired(NoLease):
    code = "lease_expired"


class ItemClosed(LabelingError):
    """The item is resolved (or full) and takes no more labels from this rater."""

    code = "item_closed"
    status = 409


class InvalidValue(LabelingError):
    code = "invalid_value"
    status = 400
