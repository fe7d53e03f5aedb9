"""Rate limits of the API, kept in the "throttle" cache (Redis when REDIS_URL is set, shared by
every process; files under var/ otherwise).

The rates are settings (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], each from an environment
variable) read at each request, so that a test can change them with override_settings.
A refused request is a 429 JSON error with Retry-After.

- `user`, `anon`: every API request of a signed-in caller, per user; of an anonymous one, per
  address.
- `claim`, `submit`: the labeling hot path, per user, instead of `user`: generous, since a
  keyboard-fast rater submits several items a second and the benchmark's raters more. Counted
  in each web process's memory, not in the cache: two round trips to Redis on each of the two
  requests of every labeled item cost more CPU than the rest of the request's Python
  (bench/RESULTS.md, 2026-12-02). With W web processes a rater may reach W times the rate; the
  limit is a guard against a runaway client, not an exact quota.
- `failed_token`: Authorization headers with an unknown or revoked token, per address; past the
  rate, unknown tokens from that address get 429 instead of 401 until the window has passed.
  Only a failure looks at the count, so a good token costs no round trip.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.cache import BaseCache, caches
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class CacheRateThrottle(SimpleRateThrottle):
    """DRF's sliding-window throttle on the "throttle" cache, with the rate read per request."""

    num_requests: int
    duration: int

    @property
    def cache(self) -> BaseCache:  # type: ignore[override]
        return caches["throttle"]

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return None if rate is None else str(rate)


class UserThrottle(CacheRateThrottle):
    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        ident: Any = request.user.pk
        if ident is None:
            # A project token acts as no person (user.pk is None): it is counted on its own,
            # not with every other pipeline.
            token_id = getattr(request.auth, "pk", None)
            ident = f"token-{token_id}" if token_id is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonThrottle(CacheRateThrottle):
    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class ProcessRateThrottle(UserThrottle):
    """UserThrottle's sliding window, kept in this process's memory (see the module's doc)."""

    histories: ClassVar[dict[str, list[float]]] = {}

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        self.history = [t for t in self.histories.get(self.key, ()) if t > self.now - self.duration]
        if len(self.history) >= self.num_requests:
            self.histories[self.key] = self.history
            return self.throttle_failure()
        self.history.insert(0, self.now)
        self.histories[self.key] = self.history
        return True


class ClaimThrottle(ProcessRateThrottle):
    scope = "claim"


class SubmitThrottle(ProcessRateThrottle):
    scope = "submit"


class FailedTokenThrottle(CacheRateThrottle):
    """Counts failures only: `refuses` looks without counting, `record_failure` counts one."""

    scope = "failed_token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def refuses(self, request: Request) -> bool:
        if self.rate is None:
            return False
        self.key = self.get_cache_key(request, None)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        return len(self.history) >= self.num_requests

    def record_failure(self, request: Request) -> None:
        if self.rate is None:
            return
        self.refuses(request)
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
