"""Tests: fast password hashing and a media root of their own; the database and the broker come
from the environment exactly as in base (SQLite and eager tasks, or PostgreSQL and Redis)."""

import os

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = VAR_DIR / "test-media"

# Each test run gets a queue of its own, so that two runs (or a developer's worker) sharing one
# Redis never take each other's tasks. The worker started by tests/conftest.py reads the same name.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("ACCORD_CELERY_QUEUE") or f"accord-test-{os.getpid()}"
ACCORD_PROGRESS_CACHE_SECONDS = 0

# On SQLite, tests get a database file rather than memory: the live server's request threads then
# each open a real connection to it instead of fighting over one shared in-memory connection.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
