"""A served app with a one-second request deadline and a view that sleeps past it, for
tests/test_request_deadline.py."""

from config.settings.test import *  # noqa: F403

ROOT_URLCONF = "tests.deadline.urls"
ACCORD_REQUEST_DEADLINE_SECONDS = 1.0
