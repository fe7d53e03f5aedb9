"""Shared fixtures: named actors, a project, a real browser, and a real Celery worker.

The actors: alice leads the project, bob and carol rate in it, mallory belongs to another project
only; anonymous is nobody.
"""

from __future__ import annotations

import os
import shutil
import signal
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
    transaction; a test about background work asks for `celery_worker_process` (or
    `celery_worker_to_kill`), and then its tasks go to a real worker (through Redis, or through
    files on the embedded default)."""
    from config.celery import app

    if {"celery_worker_process", "celery_worker_to_kill"} & set(request.fixturenames):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


# --- a real Celery worker ----------------------------------------------------------------------


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_celery_worker(queue: str, log_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """A real `celery worker` process consuming `queue` against the test database (`env` added
    to its environment), once it says it is ready. Its output goes to `log_path`."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "CONN_MAX_AGE": "0",
        "ACCORD_CELERY_QUEUE": queue,
        "ACCORD_TEST_RUN": settings.TEST_RUN,
        **env,
    }
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
             "--loglevel=INFO", "-Q", queue, "-n", f"{queue}@%h", "--without-mingle",
             "--without-gossip"],
            env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    # "ready." is the worker's own line once it consumes (remote control, which a ping
    # needs, does not exist on the filesystem transport).
    wait_for(lambda: worker.poll() is None and " ready." in log_path.read_text(), timeout=60)
    return worker


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[str]:
    """Start a real `celery worker` process on this run's queue against the test database, and
    yield the queue's name: through Redis with REDIS_URL set, else through files (Kombu's
    filesystem transport, as on the embedded default)."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    log_path = Path(settings.VAR_DIR) / f"test-celery-worker-{settings.TEST_RUN}.log"
    worker = start_celery_worker(queue, log_path)
    try:
        yield queue
    finally:
        worker.terminate()
        worker.wait(timeout=30)


class KillableWorker:
    """Real workers of one test, on a queue of their own that the test's tasks go to: a test
    may kill one (SIGKILL, as the kernel's OOM killer or a lost machine would) and start
    another, leaving the session's worker alone."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        self.started += 1
        log_path = Path(settings.VAR_DIR) / f"test-celery-{self.queue}-{self.started}.log"
        self.process = start_celery_worker(self.queue, log_path, **env)
        return self.process

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def celery_worker_to_kill(django_db_setup) -> Iterator[KillableWorker]:
    """Workers this test starts (`start`) and may kill; its tasks go to their queue."""
    from config.celery import app

    workers = KillableWorker(f"{settings.CELERY_TASK_DEFAULT_QUEUE}-killable")
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = workers.queue
    try:
        yield workers
    finally:
        app.conf.task_default_queue = previous
        workers.stop()
