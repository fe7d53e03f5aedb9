"""API clients for the named actors: signed in with a session, or carrying an API token."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from projects.services.tokens import api_token_create


def session_client(user: Any | None) -> APIClient:
    """A client signed in as `user` through the real session login (None: anonymous)."""
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def token_client(user: Any, name: str = "pipeline") -> APIClient:
    """A client that authenticates with a fresh API token of `user` and nothing else."""
    _, secret = api_token_create(user=user, name=name)
    return secret_client(secret)


def secret_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client
