from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


class DefaultCursorPagination(CursorPagination):
    """Cursor pagination by id: stable under inserts, O(1) per page at any depth."""

    ordering: Any = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request: Request) -> Cursor | None:
        """A cursor that does not decode is the client's mistake (400), not a missing page (DRF
        answers 404); so is one whose position is not a number where the order is numeric, which
        DRF would pass on to the database."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            valid = False
        else:
            valid = cursor is None or cursor.position is None or self._numeric(cursor.position)
        if not valid:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        return cursor

    def _numeric(self, position: Any) -> bool:
        return str(position).lstrip("-").isdigit()
