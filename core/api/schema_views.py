"""The schema and its docs page. Apart from core/api/schema.py, which DRF imports while it
reads its settings, before these views (which import DRF's) can be."""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response


class _ErrorsAsJson:
    """Errors of the schema and docs views (a 429) in JSON like the rest of /api/, rather than
    in the schema's YAML or the docs page's HTML."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc,no-any-return]


class SchemaView(_ErrorsAsJson, SpectacularAPIView):
    pass


class SchemaDocsView(_ErrorsAsJson, SpectacularSwaggerView):
    pass
