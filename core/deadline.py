"""A deadline for each request, shorter than the WSGI server's own timeout.

When a request outlives gunicorn's `--timeout`, gunicorn kills the worker process: the client
gets no HTTP answer at all (the connection closes; a proxy in front turns that into its own
502 page), and nothing in the process can say otherwise, since it is gone. So the app keeps a
deadline of its own, ACCORD_REQUEST_DEADLINE_SECONDS, set below gunicorn's timeout: past it the
request is interrupted where it stands and answered 503, as JSON under /api/, with Retry-After.
Transactions roll back as for any exception. This is what Rack::Timeout does for Ruby servers.

The interruption is a SIGALRM timer, so it works where requests run in a process's main thread:
gunicorn's sync workers (`make run`, the Docker image) and Django's test client. In threads
(`runserver`, gunicorn's gthread workers) there is no deadline and gunicorn's kill remains the
limit. Long work belongs in a Celery task, never in a request; the deadline is the net.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core.api.errors import error_response, is_api


class RequestDeadlineExceeded(Exception):
    """Raised inside a request that ran past ACCORD_REQUEST_DEADLINE_SECONDS."""


class _Timer:
    """The SIGALRM handler of one request; remembers that it fired, because a middleware
    inside this one turns the exception into a 500 response before it gets here."""

    fired = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.fired = True
        raise RequestDeadlineExceeded


def _can_arm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


class RequestDeadlineMiddleware:
    """Put first in MIDDLEWARE, so that the deadline covers all the others."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        seconds = float(settings.ACCORD_REQUEST_DEADLINE_SECONDS)
        if seconds <= 0 or not _can_arm():
            return self.get_response(request)
        timer = _Timer()
        previous_handler = signal.signal(signal.SIGALRM, timer)
        previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
        if previous_delay and previous_delay < seconds:
            # Someone else's timer (a test runner's) comes first: leave it to them.
            signal.setitimer(signal.ITIMER_REAL, previous_delay, previous_interval)
            signal.signal(signal.SIGALRM, previous_handler)
            return self.get_response(request)
        started = time.monotonic()
        try:
            response = self.get_response(request)
        except RequestDeadlineExceeded:
            response = deadline_response(request, seconds)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_delay:
                left = max(previous_delay - (time.monotonic() - started), 0.001)
                signal.setitimer(signal.ITIMER_REAL, left, previous_interval)
        if timer.fired and response.status_code == 500:
            return deadline_response(request, seconds)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        # A view's exception reaches here before Django answers it with a 500 (and logs one).
        if isinstance(exception, RequestDeadlineExceeded):
            return deadline_response(request, float(settings.ACCORD_REQUEST_DEADLINE_SECONDS))
        return None


def deadline_response(request: HttpRequest, seconds: float) -> HttpResponse:
    message = (
        f"The request took longer than {seconds:g} s and was stopped; nothing it did was kept. "
        "Try again later, or with less at once."
    )
    if is_api(request):
        return error_response(503, "request_timeout", message, Retry_After="30")
    response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "30"
    return response
