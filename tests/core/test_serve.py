"""`manage.py serve` (what `make run` starts): gunicorn and a Celery worker as one command, on a
fresh embedded default; both stop together, whether asked to or because one died."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.conftest import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> dict[int, str]:
    """The process's children and their command lines."""
    listed = subprocess.run(["pgrep", "-a", "-P", str(pid)], capture_output=True, text=True)
    return {
        int(line.split(" ", 1)[0]): line.split(" ", 1)[1] for line in listed.stdout.splitlines()
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not reaped yet is a zombie: gone for our purpose.
    return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/accounts/login/")
        return conn.getresponse().status == 200
    except OSError:
        return False


def start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"ACCORD_VAR_DIR": str(tmp_path / "var"), "DJANGO_SETTINGS_MODULE":
            "config.settings.local", "DEBUG": "0"}  # fmt: skip
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=settings.BASE_DIR, check=True)
    port = free_port()
    server = subprocess.Popen(
        [*manage, "serve", "--port", str(port), "--workers", "1", "--worker-concurrency", "1"],
        env=env, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(lambda: answers(port), timeout=60)
    return server, port


def test_serve_runs_the_web_and_a_worker_and_stops_both(tmp_path: Path) -> None:
    server, port = start(tmp_path)
    try:
        started = wait_for(lambda: len(children(server.pid)) == 2 and children(server.pid))
        assert any("celery" in cmd and "worker" in cmd for cmd in started.values()), started
        assert any("gunicorn" in cmd for cmd in started.values()), started
        assert (tmp_path / "var" / "celery" / "queue").is_dir(), "tasks travel through files"
        assert (tmp_path / "var" / "celery" / "control").is_dir(), "all of them under var/"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not any(alive(pid) for pid in started)
        assert not answers(port)
    finally:
        if server.poll() is None:
            server.kill()


def test_when_the_worker_dies_serve_stops_the_web_too_and_says_so(tmp_path: Path) -> None:
    server, port = start(tmp_path)
    try:
        started = wait_for(lambda: len(children(server.pid)) == 2 and children(server.pid))
        worker = next(pid for pid, cmd in started.items() if "celery" in cmd)
        os.kill(worker, signal.SIGKILL)
        assert server.wait(timeout=60) != 0
        assert not any(alive(pid) for pid in started)
        assert not answers(port), "no web server is left answering without a worker"
    finally:
        if server.poll() is None:
            server.kill()
