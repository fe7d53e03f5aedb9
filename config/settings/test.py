"""Tests: fast password hashing and a media root of their own; the database and the broker come
from the environment exactly as in base (SQLite and Kombu's filesystem transport, or PostgreSQL
and Redis). Tasks run in-process unless a test asks for a real worker (tests/conftest.py)."""

import os
from pathlib import Path

from .base import *  # noqa: F403
from .base import CACHES, REDIS_URL, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A server a test starts in a process of its own is given the test's media root this way.
MEDIA_ROOT = Path(os.environ.get("ACCORD_TEST_MEDIA_ROOT") or VAR_DIR / "test-media")

# Each test run has a name of its own, so that two runs (or a developer's worker) sharing one
# Redis or var/ never take each other's tasks or cache entries. The worker that tests/conftest.py
# starts is given the same name.
TEST_RUN = os.environ.get("ACCORD_TEST_RUN") or str(os.getpid())
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("ACCORD_CELERY_QUEUE") or f"accord-test-{TEST_RUN}"
ACCORD_PROGRESS_CACHE_SECONDS = 0

if not REDIS_URL:
    CELERY_QUEUE_DIR = VAR_DIR / f"test-celery-{TEST_RUN}"
    for folder in ("queue", "processed", "control"):
        (CELERY_QUEUE_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        # Where the transport keeps its exchange bindings (by default ./control, in the repo).
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_QUEUE_DIR / "beat-schedule")
    CACHES = {
        **CACHES,
        "default": {**CACHES["default"], "LOCATION": str(VAR_DIR / f"test-cache-{TEST_RUN}")},
    }

# On SQLite, tests get a database file rather than memory: the live server's request threads then
# each open a real connection to it instead of fighting over one shared in-memory connection.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{TEST_RUN}.sqlite3")}  # noqa: F405

# Rate limits that no test reaches by accident; the throttle tests set low ones with
# override_settings. Counted in this process's memory, cleared before each test (conftest.py).
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        scope: "100000/s"
        for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # type: ignore[attr-defined]  # noqa: F405
    },
}
CACHES = {
    **CACHES,
    "throttle": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "throttle",
    },
}

# Webhooks retry within a test's patience (the real waits are minutes and hours): four attempts
# over a few tenths of a second, and a short timeout for receivers that never answer.
ACCORD_WEBHOOK_RETRY_DELAYS = (0.05, 0.1, 0.2)
ACCORD_WEBHOOK_TIMEOUT_SECONDS = 2.0
