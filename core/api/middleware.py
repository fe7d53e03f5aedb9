"""Checks of every /api/ request before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.api.errors import error_response, is_api


class SingleValuedQueryMiddleware:
    """No query parameter of the API takes several values (lists are comma-separated, as in
    `status=open,labeled`), so a repeated one is refused with a 400 naming it; otherwise the
    last value would win silently, or an empty one would turn a filter off."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api(request) and request.GET:
            repeated = sorted(name for name, values in request.GET.lists() if len(values) > 1)
            if repeated:
                problem = "Given more than once; give it once (a list is comma-separated)."
                return error_response(
                    400,
                    "invalid",
                    f"{repeated[0]}: {problem}",
                    fields={name: [problem] for name in repeated},
                )
        return self.get_response(request)
