"""A request that outlives gunicorn's --timeout gets no answer of the app's: gunicorn kills the
worker and writes its own HTML 500 page. The app's deadline, shorter than that timeout, answers
first, in JSON under /api/. Here under a real gunicorn sync worker, as `make run` serves."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served() -> Iterator[int]:
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.deadline.settings"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--timeout", "20"],
        cwd=Path(settings.BASE_DIR), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _status(port, "/api/nothing/") == 404, timeout=30)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=25)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _status(port: int, path: str) -> int | None:
    try:
        return _get(port, path)[0]
    except OSError:
        return None


def test_an_api_request_past_the_deadline_is_a_json_503_before_gunicorn_kills_it(served):
    started = time.monotonic()
    status, headers, body = _get(served, "/api/v1/sleep/")
    assert time.monotonic() - started < 10
    assert status == 503 and headers["Content-Type"] == "application/json"
    assert headers["Retry-After"] == "30"
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert _status(served, "/api/nothing/") == 404, "the worker lives on"


def test_a_page_past_the_deadline_is_a_plain_503(served):
    status, headers, body = _get(served, "/sleep/")
    assert status == 503 and headers["Retry-After"] == "30"
    assert b"took longer than 1 s" in body


def test_manage_py_serve_brings_the_deadline_below_a_shorter_gunicorn_timeout(settings):
    from core.management.commands.serve import _web_environment

    settings.ACCORD_REQUEST_DEADLINE_SECONDS = 100
    assert "ACCORD_REQUEST_DEADLINE_SECONDS" not in _web_environment(120)
    assert _web_environment(60)["ACCORD_REQUEST_DEADLINE_SECONDS"] == "50"
