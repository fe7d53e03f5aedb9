from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class PlainMetadata(SimpleMetadata):
    """OPTIONS answers the view's name, description and media types, without DRF's description
    of each write's fields: that reads an object for PUT, which fails (a 500) on a route with no
    id, such as PUT on the label list. The schema at /api/schema/ describes the fields."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        return {}
