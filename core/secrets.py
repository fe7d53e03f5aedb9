"""Secrets that are shown once and stored only as a hash: API tokens and invitation links.

A SHA-256 of a random 256-bit secret needs no salt or slow hash: nobody can guess the secret,
so a leaked hash column gives nothing away, and a lookup by hash is one index probe.
"""

from __future__ import annotations

import hashlib
import secrets


def secret_new(prefix: str) -> str:
    """A new secret: the prefix (which says what it is, e.g. to secret scanners) and 43 random
    URL-safe characters."""
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
