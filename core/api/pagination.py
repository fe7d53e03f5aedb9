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

    def get_page_size(self, request: Request) -> int:
        """`page_size` as given, up to max_page_size; one that is not a whole number from 1 up
        is a 400 (DRF would quietly use the default)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise ValidationError(
                {self.page_size_query_param: ["A whole number from 1 up is required."]}
            )
        return min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page, {self.page_size} by default; more than "
                    f"{self.max_page_size} is read as {self.max_page_size}."
                )
        return parameters

    def _numeric(self, position: Any) -> bool:
        digits = str(position).removeprefix("-")
        return digits.isascii() and digits.isdigit()
