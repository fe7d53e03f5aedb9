"""`manage.py serve`: the web server (gunicorn) and a Celery worker with beat, as one command.

This is what `make run` starts. Long work (imports, recounts, and the recomputes and builds to
come) never runs in a web request: it goes to the worker, through Redis when REDIS_URL is set,
else through files under var/celery/ (the embedded default, which needs nothing else installed).
Ctrl-C (or SIGTERM) stops both; if either stops on its own, the other is stopped too and the
command exits with its code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

POLL_SECONDS = 0.5
STOP_SECONDS = 20


class Command(BaseCommand):
    help = "Serve Accord with gunicorn, and run a Celery worker (with beat) beside it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
        parser.add_argument(
            "--timeout", type=int, default=120, help="gunicorn's limit on one request, seconds"
        )
        parser.add_argument(
            "--worker-concurrency", type=int, default=2, help="Celery worker processes"
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Serve only: Celery workers run elsewhere (e.g. `make worker`, docker-compose).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        processes: dict[str, subprocess.Popen[bytes]] = {}
        if not options["no_worker"]:
            processes["worker"] = subprocess.Popen(
                [python, "-m", "celery", "-A", "config", "worker", "--beat", "--loglevel=INFO",
                 f"--concurrency={options['worker_concurrency']}", "--without-mingle",
                 "--without-gossip"],
                cwd=settings.BASE_DIR,
            )  # fmt: skip
        processes["web"] = subprocess.Popen(
            [python, "-m", "gunicorn", "config.wsgi:application",
             "--bind", f"{options['host']}:{options['port']}",
             "--workers", str(options["workers"]), "--timeout", str(options["timeout"]),
             "--access-logfile", "-"],
            cwd=settings.BASE_DIR, env=_web_environment(options["timeout"]),
        )  # fmt: skip
        broker = "Redis" if settings.REDIS_URL else "files under var/celery/"
        self.stdout.write(
            f"Accord is serving on http://{options['host']}:{options['port']}/"
            + ("" if options["no_worker"] else f" with a Celery worker (tasks through {broker})")
            + "  (Ctrl-C stops it)"
        )
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        code = 0
        while not stopping:
            ended = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
            if ended:
                name, code = next(iter(ended.items()))
                self.stderr.write(f"The {name} process stopped (exit code {code}); stopping.")
                break
            time.sleep(POLL_SECONDS)
        _stop_all(processes)
        if code:
            sys.exit(code)


def _web_environment(timeout: int) -> dict[str, str]:
    """The app's own request deadline must come before gunicorn's --timeout, which kills the
    worker mid-request (core/deadline.py): a shorter --timeout brings the deadline down too."""
    env = dict(os.environ)
    deadline = settings.ACCORD_REQUEST_DEADLINE_SECONDS
    if deadline <= 0 or deadline < timeout:
        return env
    env["ACCORD_REQUEST_DEADLINE_SECONDS"] = str(max(1, timeout * 5 // 6))
    return env


def _stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM (gunicorn finishes its requests, Celery its tasks) for STOP_SECONDS; then SIGQUIT,
    Celery's cold shutdown, which stops its pool's children too; then SIGKILL. A task cut short
    leaves its job running without a heartbeat: it shows as stalled and can be retried."""
    for stop_signal, seconds in ((signal.SIGTERM, STOP_SECONDS), (signal.SIGQUIT, 5.0)):
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(stop_signal)
        deadline = time.monotonic() + seconds
        for process in processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes.values():
        if process.poll() is None:
            process.kill()
            process.wait()
