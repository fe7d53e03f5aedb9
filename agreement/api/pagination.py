"""The conflict queue's pages: lowest agreement first (conflicts with no figure yet last), then by
id, with cursors on that pair.

DRF's cursor pagination keeps one field and an offset into the rows that share its value, which
is wrong past its cap of 1,000 such rows and slow before: and ties are the rule here (with two
raters per item every conflict's agreement is 0). A keyset on (observed, id) is exact at any
depth, and stays right while conflicts open and close between two pages.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import F, Q, QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from agreement.models import Conflict
from agreement.selectors import QUEUE_ORDER
from core.api.pagination import DefaultCursorPagination

ORDER_BACKWARDS = (F("observed").desc(nulls_first=True), "-pk")
NO_FIGURE = "null"
_SEPARATOR = "~"

Key = tuple[float | None, int]


def position_of(conflict: Conflict) -> str:
    """A conflict's place in the queue, as a cursor holds it: `repr` gives the float back
    exactly, so the database compares with the very value it stored."""
    observed = NO_FIGURE if conflict.observed is None else repr(conflict.observed)
    return f"{observed}{_SEPARATOR}{conflict.pk}"


def key_of(position: object) -> Key | None:
    """The (observed, id) a position names, or None when it names none."""
    if not isinstance(position, str):
        return None
    observed, _, pk = position.rpartition(_SEPARATOR)
    if not (pk.isascii() and pk.isdigit()):
        return None
    if observed == NO_FIGURE:
        return None, int(pk)
    try:
        value = float(observed)
    except ValueError:
        return None
    return (value, int(pk)) if math.isfinite(value) else None


def beyond(key: Key, *, backwards: bool) -> Q:
    """The conflicts after `key` in queue order (before it, `backwards`)."""
    observed, pk = key
    if backwards:
        if observed is None:
            return Q(observed__isnull=False) | Q(observed__isnull=True, pk__lt=pk)
        return Q(observed__lt=observed) | Q(observed=observed, pk__lt=pk)
    if observed is None:
        return Q(observed__isnull=True, pk__gt=pk)
    return Q(observed__gt=observed) | Q(observed=observed, pk__gt=pk) | Q(observed__isnull=True)


class ConflictQueuePagination(DefaultCursorPagination):
    """Pages of `agreement.selectors.conflict_queue`, in its order; the same `next`, `previous`
    and `results` as every list of the API."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        assert isinstance(queryset, QuerySet), "a keyset pages a queryset"
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        backwards = self.cursor is not None and self.cursor.reverse
        if self.cursor is not None:
            key = key_of(self.cursor.position)
            assert key is not None  # decode_cursor refused any other
            queryset = queryset.filter(beyond(key, backwards=backwards))
        rows = list(
            queryset.order_by(*(ORDER_BACKWARDS if backwards else QUEUE_ORDER))[
                : self.page_size + 1
            ]
        )
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        if backwards:
            self.page.reverse()
        # A cursor was handed out from a row on its far side: there is a page that way.
        self.has_next = True if backwards else more
        self.has_previous = more if backwards else self.cursor is not None
        self.display_page_controls = self.has_next or self.has_previous
        return self.page

    def decode_cursor(self, request: Request) -> Cursor | None:
        """Only a cursor this list handed out: a position of (observed, id) and no offset; any
        other is the client's mistake (400)."""
        try:
            cursor = CursorPagination.decode_cursor(self, request)
        except NotFound:
            cursor = None
            valid = False
        else:
            valid = cursor is None or (cursor.offset == 0 and key_of(cursor.position) is not None)
        if not valid:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        return cursor

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        return self._link(self.page[-1] if self.page else None, reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous:
            return None
        return self._link(self.page[0] if self.page else None, reverse=True)

    def _link(self, edge: Conflict | None, *, reverse: bool) -> str:
        """A cursor from the page's edge row; from the page's own cursor when it is empty."""
        if edge is not None:
            position: Any = position_of(edge)
        else:
            assert self.cursor is not None, "an empty first page has no other page"
            position = self.cursor.position
        # DRF's stubs type a position as an int; it is any text DRF encodes.
        return self.encode_cursor(Cursor(offset=0, reverse=reverse, position=position))
