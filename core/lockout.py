"""Sign-in lockout: after ACCORD_LOGIN_FAILURE_LIMIT wrong passwords for one username, or from
one address, within ACCORD_LOGIN_LOCKOUT_SECONDS, sign-in for that username (or from that
address) is refused for the rest of that window, even with the right password, and the page says
so. Counted in the "throttle" cache, shared by every process.

Both keys, because each alone has a hole: per username only, one address tries a password on
every account; per address only, a botnet tries every password on one account. The cost is
that someone can lock a known username out for a while; a lead or staff can still set the
user's password, and the lockout ends on its own.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import caches
from django.http import HttpRequest
from rest_framework.settings import api_settings


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or with ACCORD_NUM_PROXIES trusted proxies in front,
    the address the outermost of them saw (as DRF's throttles read it)."""
    proxies = int(api_settings.NUM_PROXIES or 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        return hops[-min(proxies, len(hops))]
    return str(request.META.get("REMOTE_ADDR", ""))


def _keys(request: HttpRequest | None, username: str) -> list[str]:
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    keys = [f"login-failures:user:{name}"]
    if request is not None:
        keys.append(f"login-failures:addr:{client_address(request)}")
    return keys


def login_locked(request: HttpRequest | None, username: str) -> bool:
    cache = caches["throttle"]
    limit = settings.ACCORD_LOGIN_FAILURE_LIMIT
    return any((cache.get(key) or 0) >= limit for key in _keys(request, username))


def login_failed(request: HttpRequest | None, username: str) -> None:
    """Count one wrong password. The window starts at a key's first failure."""
    cache = caches["throttle"]
    for key in _keys(request, username):
        cache.add(key, 0, timeout=settings.ACCORD_LOGIN_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=settings.ACCORD_LOGIN_LOCKOUT_SECONDS)


def lockout_message() -> str:
    minutes = max(1, round(settings.ACCORD_LOGIN_LOCKOUT_SECONDS / 60))
    return (
        "Too many wrong passwords for this username or from your address: signing in is "
        f"locked for up to {minutes} minutes. Try again later, or ask a lead to reset your "
        "password."
    )


class LockoutMixin:
    """For Django's authentication forms: refuse while locked out, count wrong passwords."""

    request: HttpRequest | None
    data: Any

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username") or "")
        if username and login_locked(self.request, username):
            raise forms.ValidationError(lockout_message(), code="locked_out")
        try:
            return super().clean()  # type: ignore[misc,no-any-return]
        except forms.ValidationError as error:
            if username and getattr(error, "code", None) == "invalid_login":
                login_failed(self.request, username)
            raise


class LockoutAuthenticationForm(LockoutMixin, AuthenticationForm):
    """The sign-in page's form."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That username and password do not match. Try again.",
    }


class LockoutAdminAuthenticationForm(LockoutMixin, AdminAuthenticationForm):
    """The admin's sign-in form."""
