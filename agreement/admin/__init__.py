"""The agreement app in the Django admin, scoped like the rest of it (`projects.admin`): a lead
works through the conflicts of the projects they lead (`conflicts`) and reads the labels of
record and the decisions taken (`records`); superusers see everything."""

from agreement.admin.conflicts import ConflictAdmin
from agreement.admin.records import LabelOfRecordAdmin, ResolutionAdmin

__all__ = ["ConflictAdmin", "LabelOfRecordAdmin", "ResolutionAdmin"]
