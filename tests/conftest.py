"""Shared fixtures: named actors, a project, a real browser, and a real Celery worker.

The actors: alice leads the project, bob and carol rate in it, mallory belongs to another project
only; anonymous is nobody.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.factories import UserFactory, make_project

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


def wait_for(predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def carol(db):
    return UserFactory(username="carol")


@pytest.fixture
def mallory(db):
    user = UserFactory(username="mallory")
    make_project(lead=user, name="Mallory's own project")
    return user


@pytest.fixture
def project(alice, bob, carol):
    return make_project(lead=alice, raters=[bob, carol], raters_per_item=2)


# --- a real browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI: .ci/run should have installed it.")
        pytest.skip("Chromium not found: install it with `apt-get install -y chromium`.")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def browser_login(page: Any, live_server: Any, username: str, password: str = "pw") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(autouse=True)
def _no_remaining_figure_from_an_earlier_test() -> None:
    """Each process keeps its own copy of a project's remaining count; project ids repeat from
    test to test, so a copy left by one test must not answer in the next."""
    from labeling import progress

    progress._remaining_seen.clear()


@pytest.fixture(autouse=True)
def _no_rate_counts_from_an_earlier_test() -> None:
    """Rate limits and sign-in failures are counted per user id, username and address, which
    repeat from test to test."""
    from django.core.cache import caches

    caches["throttle"].clear()


# --- background tasks ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _tasks_in_process_unless_a_worker_is_asked_for(
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """Tests run Celery tasks in-process, where the test can see what they wrote inside its own
    transaction; a test about background work asks for `celery_worker_process`, and then its
    tasks go to a real worker (through Redis, or through files on the embedded default)."""
    from config.celery import app

    if "celery_worker_process" in request.fixturenames:
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


# --- a real Celery worker ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[str]:
    """Start a real `celery worker` process on this run's queue against the test database, and
    yield the queue's name: through Redis with REDIS_URL set, else through files (Kombu's
    filesystem transport, as on the embedded default)."""
    from django.db import connection

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "CONN_MAX_AGE": "0",
        "ACCORD_CELERY_QUEUE": queue,
        "ACCORD_TEST_RUN": settings.TEST_RUN,
    }
    log_path = Path(settings.VAR_DIR) / f"test-celery-worker-{settings.TEST_RUN}.log"
    log = open(log_path, "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--loglevel=INFO", "-Q", queue, "-n", f"{queue}@%h", "--without-mingle",
         "--without-gossip"],
        env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # "ready." is the worker's own line once it consumes (remote control, which a ping
        # needs, does not exist on the filesystem transport).
        wait_for(lambda: worker.poll() is None and " ready." in log_path.read_text(), timeout=60)
        yield queue
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
