"""Benchmark: the assignment engine over HTTP on a project of 1,000,000 items with k=3.

    .venv/bin/python bench/assignment.py [--reuse] [--record] [--timeline] [--items 1000000]
        [--raters 16] [--workers 5] [--saturation-seconds 60] [--rate 100 [--rate 80]]
        [--steady-seconds 60]

Builds (or with --reuse, keeps and resets) a project of `--items` items in the database of
DATABASE_URL (default postgres://postgres@127.0.0.1:5432/accord_bench_assign, created and
migrated when missing), gives `--raters` rater users an API token each, starts gunicorn on a
free port of 127.0.0.1 with a Celery worker beside it (on Redis database 5), and drives it
with simulated raters, each a thread with its own kept-alive HTTP connection looping claim ->
submit through the labeling API:

- saturation: `--raters` raters with no think time for `--saturation-seconds`;
- steady: an open-loop schedule of `--rate` annotations per second for `--steady-seconds`
  (latency is measured from the scheduled start, so a server that falls behind shows it);
  one phase per `--rate` given.

Afterwards it checks the database (items over k, items given twice to one rater, submissions
lost), prints EXPLAIN (ANALYZE) of the claim query, and shows where the CPU went (gunicorn,
PostgreSQL, this client) from /proc. `--record` appends everything to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accord_bench_assign"
# The cache (the project's remaining count) on a Redis database of its own: the cache keys are
# not per database, and other runs on this machine share Redis.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
RESULTS = ROOT / "bench" / "RESULTS.md"
CELERY_QUEUE = "bench-assignment"
PROJECT_NAME = "bench: assignment"
LABELS = ["positive", "negative", "neutral"]
INSERT_BATCH = 200_000
REQUEST_TIMEOUT = 30.0
MAX_LOOPS_PER_RATER = 200_000  # a bound on every client loop besides its deadline
STEADY_GRACE = 15.0
CLAIM_P99_TARGET_MS = 50.0  # issue 3's target at the steady load
TICKS = os.sysconf("SC_CLK_TCK")


# --- the data --------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the database when missing; migrate it either way."""
    parsed = urlparse(url)
    result = subprocess.run(
        ["createdb", "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432),
         "-U", parsed.username or "postgres", parsed.path.lstrip("/")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0 and "already exists" not in result.stderr:
        sys.exit(f"createdb failed: {result.stderr.strip()}")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# Server settings that move the figures; printed with them.
SERVER_SETTINGS = ("autovacuum", "shared_buffers", "synchronous_commit", "plan_cache_mode", "jit")


def server_settings() -> dict[str, str]:
    """The PostgreSQL settings that move the figures, as the bench's connection sees them.
    Refuses a server with autovacuum off (some CI machines turn it off for speed): without it,
    dead rows pile up in the assignment indexes and every statement slows down within minutes,
    which no production server would show."""
    from django.db import connection

    with connection.cursor() as cursor:
        found = {}
        for name in SERVER_SETTINGS:
            cursor.execute(f"SHOW {name}")
            found[name] = cursor.fetchone()[0]
    if found["autovacuum"] != "on":
        sys.exit(
            "autovacuum is off on this PostgreSQL server, so the figures would not be those of a "
            "production server. Turn it on (psql -c 'ALTER SYSTEM SET autovacuum = on' -c "
            "'SELECT pg_reload_conf()') and run again."
        )
    return found


def insert_items(project_id: int, count: int) -> None:
    """Insert `count` items with one INSERT ... SELECT generate_series per batch. The shuffle
    key is derived from the key, as the importer does (28 bits of its hash)."""
    from django.db import connection

    for start in range(0, count, INSERT_BATCH):
        stop = min(start + INSERT_BATCH, count)
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO projects_item (project_id, key, text, data, content_hash, status,
                    slots_taken, annotation_count, priority, shuffle_key, gold_value, is_gold,
                    image_id, import_job_id, created_at, updated_at)
                SELECT %(project)s, k, t, '{}'::jsonb,
                    encode(sha256(convert_to(t, 'UTF8')), 'hex'), 'open', 0, 0, 0,
                    ('x' || substr(md5(k), 1, 7))::bit(28)::int, NULL, false, NULL, NULL,
                    now(), now()
                FROM (
                    SELECT 'bench-' || lpad(n::text, 7, '0') AS k,
                           'Bench message ' || n || ': the app was slow but support was kind.'
                           AS t
                    FROM generate_series(%(start)s, %(stop)s - 1) AS n
                ) AS rows
                """,
                {"project": project_id, "start": start, "stop": stop},
            )
        print(f"  items {stop:,}/{count:,} ({time.perf_counter() - began:.1f} s)", flush=True)


def reset_labeling(project_id: int) -> None:
    """Forget every lease, assignment and annotation of the project, so runs compare."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM labeling_annotationrevision WHERE annotation_id IN "
            "(SELECT id FROM labeling_annotation WHERE project_id = %s)",
            [project_id],
        )
        cursor.execute("DELETE FROM labeling_annotation WHERE project_id = %s", [project_id])
        cursor.execute("DELETE FROM labeling_assignment WHERE project_id = %s", [project_id])
        cursor.execute(
            "UPDATE projects_membership SET labeled_total = 0, labeled_today = 0,"
            " labeled_on = NULL WHERE project_id = %s",
            [project_id],
        )
        cursor.execute(
            "UPDATE projects_item SET slots_taken = 0, annotation_count = 0, status = 'open' "
            "WHERE project_id = %s AND (slots_taken <> 0 OR annotation_count <> 0 "
            "OR status <> 'open')",
            [project_id],
        )


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("projects_item", "labeling_assignment", "labeling_annotation",
                      "labeling_annotationrevision"):  # fmt: skip
            cursor.execute(f"VACUUM ANALYZE {table}")


def prepare_project(items: int, raters: int, reuse: bool) -> tuple[Any, list[tuple[str, str]]]:
    """The project and its raters as (username, API token secret)."""
    from django.contrib.auth import get_user_model

    from labeling.members import membership_set
    from projects.models import ApiToken, Item, Project, Role
    from projects.services.projects import project_create
    from projects.services.tokens import api_token_create

    users = get_user_model().objects
    lead, _ = users.get_or_create(username="bench-lead")
    project = Project.objects.filter(name=PROJECT_NAME).order_by("pk").first()
    if project is not None and reuse and Item.objects.filter(project=project).count() == items:
        print(f"reusing project {project.pk} with {items:,} items; resetting its labels")
        reset_labeling(project.pk)
    else:
        if project is not None:
            print(f"deleting project {project.pk} (not reusable)")
            Project.objects.filter(pk=project.pk).delete()
        project = project_create(
            created_by=lead, name=PROJECT_NAME, raters_per_item=3, lease_minutes=10,
            labels=[{"value": v, "display_name": v.title(), "hotkey": str(n)}
                    for n, v in enumerate(LABELS, start=1)],
        )  # fmt: skip
        began = time.perf_counter()
        insert_items(project.pk, items)
        print(f"inserted {items:,} items in {time.perf_counter() - began:.0f} s")
    vacuum_analyze()
    accounts = []
    for n in range(raters):
        user, _ = users.get_or_create(username=f"bench-rater-{n:02d}")
        membership_set(project=project, user=user, role=Role.RATER)
        ApiToken.objects.filter(user=user).delete()
        _, secret = api_token_create(user=user, name="bench")
        accounts.append((user.username, secret))
    return project, accounts


# --- gunicorn --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(database_url: str, redis_url: str, progress_cache_seconds: int | None) -> dict:
    """The environment of the web server and of its Celery worker."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ACCORD_CELERY_QUEUE": CELERY_QUEUE,
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
    }
    if progress_cache_seconds is not None:
        env["ACCORD_PROGRESS_CACHE_SECONDS"] = str(progress_cache_seconds)
    return env


def start_worker(env: dict) -> Any:
    """A Celery worker, as a deployment with REDIS_URL runs one beside the web server: the
    labeling page's remaining count is recounted there."""
    log = (ROOT / "var" / "bench-assignment-worker.log").open("w")
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "worker", "--pool=solo",
         "--loglevel=WARNING", "-Q", CELERY_QUEUE, "-n", f"{CELERY_QUEUE}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def start_gunicorn(workers: int, threads: int, env: dict) -> tuple[Any, int]:
    port = free_port()
    log = (ROOT / "var" / "bench-assignment-gunicorn.log").open("w")
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         *(["--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30"]
           if threads > 1 else ["--worker-class", "sync"]),
         "--backlog", "2048", "--timeout", "60", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, port


def wait_until_serving(base: str, token: str, project_id: int, process: Any) -> None:
    deadline = time.monotonic() + 60
    client = Http(base, token)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("gunicorn exited; see var/bench-assignment-gunicorn.log")
        try:
            status, _ = client.request("GET", f"/api/v1/projects/{project_id}/labeling/progress/")
            if status == 200:
                client.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("gunicorn did not answer within 60 s")


def stop_process(process: Any) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- where the CPU goes ----------------------------------------------------------------------


def process_ticks(pid: int) -> tuple[int, int, str] | None:
    """(utime + stime in clock ticks, parent pid, command name) of a process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12]), int(fields[1]), name


def cpu_ticks() -> list[int]:
    """The machine's clock ticks since boot: user, nice, system, idle, iowait, irq, softirq,
    steal."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot."""
    values = cpu_ticks()
    return sum(values) - values[3] - values[4], sum(values)


def monitor_connection(database: str) -> Any:
    """An autocommit connection to the bench database, besides the server's own."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        dbname=database, autocommit=True,
    )  # fmt: skip


def every_second(tick: Callable[[], None]) -> Callable[[], None]:
    """Call `tick` once a second in a thread; returns the stop, which waits for the thread."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(1.0):
            tick()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def stopped() -> None:
        stop.set()
        thread.join(timeout=10)

    return stopped


@dataclass
class CpuSampler:
    """Samples CPU ticks once a second into groups: the gunicorn master and its workers, the
    PostgreSQL backends serving the bench database, every PostgreSQL process, this client."""

    gunicorn_pid: int
    worker_pid: int
    database: str
    groups: Counter[str] = field(default_factory=Counter)
    _last: dict[int, int] = field(default_factory=dict)
    _stop: Callable[[], None] | None = None
    _machine: tuple[int, int] = (0, 0)
    _started: bool = False
    _began: float = 0.0
    seconds: float = 0.0
    machine_busy: float = 0.0

    def _bench_backends(self) -> set[int]:
        with monitor_connection(self.database) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.database],
            ).fetchall()
        return {int(r[0]) for r in rows}

    def _sample(self) -> None:
        backends = self._bench_backends()
        me = os.getpid()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            info = process_ticks(pid)
            if info is None:
                continue
            ticks, parent, name = info
            delta = ticks - self._last.get(pid, ticks if self._started else 0)
            self._last[pid] = ticks
            if not self._started:
                continue
            if pid == self.gunicorn_pid or parent == self.gunicorn_pid:
                self.groups["gunicorn"] += delta
            elif pid == self.worker_pid or parent == self.worker_pid:
                self.groups["worker"] += delta
            elif pid in backends:
                self.groups["postgres_bench"] += delta
            elif name == "postgres":
                self.groups["postgres_other"] += delta
            elif pid == me:
                self.groups["client"] += delta
            else:
                self.groups["other"] += delta

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._started = True
        self._machine = machine_ticks()
        self._began = time.monotonic()
        self._stop = every_second(self._sample)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._stop()
        self._sample()
        busy, total = machine_ticks()
        self.seconds = time.monotonic() - self._began
        self.machine_busy = (busy - self._machine[0]) / max(1, total - self._machine[1])

    def line(self, phase: str, annotations: int) -> str:
        """Cores used per group, CPU milliseconds per stored annotation, and the verdict."""
        cores = {k: v / TICKS / self.seconds for k, v in self.groups.items()}
        parts = " ".join(
            f"{k}_cores={cores.get(k, 0.0):.2f}"
            for k in ("gunicorn", "postgres_bench", "client", "worker", "postgres_other", "other")
        )
        per = {
            k: self.groups[k] / TICKS * 1000 / max(1, annotations)
            for k in ("gunicorn", "postgres_bench", "client")
        }
        # What the bench would reach with the machine to itself, at the CPU cost per annotation
        # measured here (other processes on the machine share its cores during the run).
        capacity = (os.cpu_count() or 1) * 1000 / max(0.001, sum(per.values()))
        ours = cores.get("gunicorn", 0.0) + cores.get("postgres_bench", 0.0)
        if self.machine_busy < 0.9:
            bound = "not-cpu(latency/locks)"
        elif cores.get("gunicorn", 0.0) >= cores.get("postgres_bench", 0.0):
            bound = "cpu:gunicorn"
        else:
            bound = "cpu:postgres"
        return (
            f"assignment.{phase}.cpu {parts} machine_busy={self.machine_busy:.0%} "
            f"gunicorn_cpu_ms/annotation={per['gunicorn']:.1f} "
            f"postgres_cpu_ms/annotation={per['postgres_bench']:.1f} "
            f"bench_share_of_machine={ours / (os.cpu_count() or 1):.0%} "
            f"cpu_capacity_alone/s={capacity:.0f} bound={bound}"
        )


@dataclass
class Timeline:
    """Samples, once a second, what could explain a slow second: the machine's busy, iowait and
    steal shares (steal: the hypervisor ran someone else on our cores), and PostgreSQL's WAL
    written, buffers written by checkpoints and by backends, blocks read, and autovacuum
    workers. `table(tally)` lays them beside each second's claim latency (`--timeline`)."""

    database: str
    # (time.monotonic(), the wall clock to match the server's log, the figures)
    rows: list[tuple[float, str, dict[str, float]]] = field(default_factory=list)
    _conn: Any = None
    _stop: Callable[[], None] | None = None

    def _read(self) -> None:
        values = cpu_ticks()
        row = self._conn.execute(
            "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, buffers_checkpoint, buffers_backend,"
            " buffers_clean, checkpoints_timed + checkpoints_req,"
            " (SELECT blks_read FROM pg_stat_database WHERE datname = %s),"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')"
            " FROM pg_stat_bgwriter",
            [self.database],
        ).fetchone()
        wal, ckpt, backend, clean, checkpoints, read, autovacuum = row
        figures = {
            "busy": sum(values) - values[3] - values[4], "iowait": values[4],
            "steal": values[7], "total": sum(values), "wal": float(wal), "ckpt": ckpt,
            "backend": backend, "clean": clean, "checkpoints": checkpoints, "read": read,
            "autovacuum": autovacuum,
        }  # fmt: skip
        self.rows.append((time.monotonic(), time.strftime("%H:%M:%S"), figures))

    def __enter__(self) -> Timeline:
        self._conn = monitor_connection(self.database)
        self._read()
        self._stop = every_second(self._read)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._stop()
        self._conn.close()

    def table(self, tally: Tally, limit_ms: float) -> str:
        """One line per sampled second: claims started in it, their p50/p99/max, and the
        system's figures over that second; seconds whose p99 exceeds `limit_ms` are marked."""
        lines = [
            "clock      s   claims  p50_ms  p99_ms  max_ms  busy  iowait  steal  wal_kB  ckpt_buf"
            "  backend_buf  clean_buf  blks_read  autovac"
        ]
        pairs = tally.claim_times
        origin = self.rows[0][0] if self.rows else 0.0
        for (start, clock, a), (end, _, b) in itertools.pairwise(self.rows):
            inside = [ms for at, ms in pairs if start <= at < end]
            total = max(1, b["total"] - a["total"])
            p99 = percentile(inside, 0.99)
            lines.append(
                f"{clock} {start - origin:4.0f} {len(inside):7d} {percentile(inside, 0.5):7.1f} "
                f"{p99:7.1f} {max(inside, default=float('nan')):7.1f} "
                f"{(b['busy'] - a['busy']) / total:5.0%} {(b['iowait'] - a['iowait']) / total:6.0%}"
                f" {(b['steal'] - a['steal']) / total:6.0%}"
                f" {(b['wal'] - a['wal']) / 1024:7.0f} {b['ckpt'] - a['ckpt']:9.0f}"
                f" {b['backend'] - a['backend']:12.0f} {b['clean'] - a['clean']:10.0f}"
                f" {b['read'] - a['read']:10.0f} {b['autovacuum']:8.0f}"
                + ("  checkpoint" if b["checkpoints"] != a["checkpoints"] else "")
                + ("  <- slow" if p99 > limit_ms else "")
            )
        return "\n".join(lines)


# --- the simulated raters -------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw. Appended from many threads: list.append is atomic in CPython."""

    claim_ms: list[float] = field(default_factory=list)
    # (time.monotonic() at the start, milliseconds) of each claim: one append per claim, so
    # that a start is never paired with another thread's latency.
    claim_times: list[tuple[float, float]] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    scheduled_ms: list[float] = field(default_factory=list)  # claim+submit from the schedule
    created: list[str] = field(default_factory=list)  # client_ids of submits that created
    unknown: list[str] = field(default_factory=list)  # submits whose answer never came
    errors: Counter[str] = field(default_factory=Counter)


class Http:
    """One rater's connection: http.client with keep-alive where the server offers it.

    The client shares the machine's two cores with the server it measures, so it must cost
    little: `requests` spent about 1.7 ms of CPU per request here, http.client a fraction of
    that. A request that fails on a kept-alive connection the server has meanwhile closed is
    sent again on a new one, as urllib3 does; both endpoints are safe to repeat (a claim
    returns the rater's current lease, a submit is idempotent by its client_id)."""

    def __init__(self, base: str, token: str) -> None:
        parsed = urlparse(base)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json",
                        "Accept": "application/json"}  # fmt: skip
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            reused = self.connection is not None
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=REQUEST_TIMEOUT
                )
            try:
                self.connection.request(method, path, body=data, headers=self.headers)
                response = self.connection.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if reused and attempt == 1:
                    continue
                raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            if response.will_close:
                self.close()
            return response.status, json.loads(payload) if payload else None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Rater:
    def __init__(self, base: str, project_id: int, token: str, rng: random.Random) -> None:
        self.http = Http(base, token)
        self.claim_path = f"/api/v1/projects/{project_id}/labeling/claim/"
        self.submit_path = f"/api/v1/projects/{project_id}/labeling/items/{{}}/submit/"
        self.rng = rng

    def annotate(self, tally: Tally) -> bool:
        """One claim and one submit; True when the label was stored."""
        began = time.perf_counter()
        try:
            status, answer = self.http.request("POST", self.claim_path, {"hold": 1})
        except (OSError, http.client.HTTPException) as error:
            tally.errors[f"claim {type(error).__name__}"] += 1
            return False
        claimed = time.perf_counter()
        tally.claim_ms.append((claimed - began) * 1000)
        tally.claim_times.append((time.monotonic() - (claimed - began), (claimed - began) * 1000))
        if status != 200:
            tally.errors[f"claim {status}"] += 1
            return False
        items = answer["items"]
        if not items:
            tally.errors["claim empty queue"] += 1
            return False
        client_id = str(uuid.uuid4())
        body = {"value": self.rng.choice(LABELS), "client_id": client_id, "time_spent_ms": 0}
        try:
            status, answer = self.http.request(
                "POST", self.submit_path.format(items[0]["item"]["id"]), body
            )
        except (OSError, http.client.HTTPException) as error:
            tally.errors[f"submit {type(error).__name__}"] += 1
            tally.unknown.append(client_id)
            return False
        tally.submit_ms.append((time.perf_counter() - claimed) * 1000)
        if status not in (200, 201):
            tally.errors[f"submit {status}"] += 1
            return False
        if answer["created"]:
            tally.created.append(client_id)
        else:
            tally.errors["submit not created"] += 1
        return True


def run_threads(targets: Iterable[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=3600)


def saturation(raters: list[Rater], seconds: float, tally: Tally) -> float:
    """Every rater loops with no think time until the deadline; returns the elapsed time."""
    start = threading.Barrier(len(raters) + 1)
    deadline = [0.0]

    def loop(rater: Rater) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            for _ in range(MAX_LOOPS_PER_RATER):
                if time.monotonic() >= deadline[0]:
                    return
                rater.annotate(tally)

        return run

    threads = [threading.Thread(target=loop(r), daemon=True) for r in raters]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return time.monotonic() - began


def steady(raters: list[Rater], rate: float, seconds: float, tally: Tally) -> float:
    """Open loop: annotation n starts at `began + n / rate`, taken by whichever rater is free.
    The latency counted is from the scheduled start, so queueing behind a slow server counts.
    A server that falls far behind does not stretch the phase: slots not started within
    STEADY_GRACE seconds after the schedule ends are dropped and counted."""
    total = int(rate * seconds)
    lock = threading.Lock()
    next_slot = [0]
    began = time.monotonic() + 0.5
    hard_stop = began + seconds + STEADY_GRACE

    def loop(rater: Rater) -> Callable[[], None]:
        def run() -> None:
            for _ in range(MAX_LOOPS_PER_RATER):
                with lock:
                    slot = next_slot[0]
                    next_slot[0] += 1
                if slot >= total:
                    return
                if time.monotonic() > hard_stop:
                    tally.errors["steady slot dropped (server too far behind)"] += 1
                    continue
                at = began + slot / rate
                wait = at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if rater.annotate(tally):
                    tally.scheduled_ms.append((time.monotonic() - at) * 1000)

        return run

    run_threads(loop(r) for r in raters)
    return time.monotonic() - began


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def latency_fields(prefix: str, values: list[float]) -> str:
    return " ".join(
        f"{prefix}_p{int(q * 100)}_ms={percentile(values, q):.1f}" for q in (0.5, 0.95, 0.99)
    )


# --- checks and the query plan ----------------------------------------------------------------


def database_checks(project: Any, tally: Tally) -> dict[str, int]:
    from django.db import connection

    k = project.raters_per_item
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM (
                 SELECT item_id FROM labeling_assignment
                 WHERE project_id = %(p)s AND status <> 'skipped'
                 GROUP BY item_id HAVING count(*) > %(k)s) AS a),
              (SELECT count(*) FROM projects_item
                 WHERE project_id = %(p)s AND NOT is_gold AND slots_taken > %(k)s),
              (SELECT count(*) FROM (
                 SELECT item_id, rater_id FROM labeling_assignment WHERE project_id = %(p)s
                 GROUP BY 1, 2 HAVING count(*) > 1) AS b)
              + (SELECT count(*) FROM (
                 SELECT item_id, rater_id FROM labeling_annotation WHERE project_id = %(p)s
                 GROUP BY 1, 2 HAVING count(*) > 1) AS c),
              (SELECT count(*) FROM labeling_annotation WHERE project_id = %(p)s),
              (SELECT count(*) FROM labeling_annotationrevision r
                 JOIN labeling_annotation a ON a.id = r.annotation_id
                 WHERE a.project_id = %(p)s AND r.client_id = ANY(%(ids)s::uuid[])),
              (SELECT count(*) FROM projects_item i
                 LEFT JOIN (SELECT item_id, count(*) AS holders,
                                   count(*) FILTER (WHERE status = 'submitted') AS submitted
                            FROM labeling_assignment WHERE project_id = %(p)s
                              AND status <> 'skipped' GROUP BY item_id) AS h ON h.item_id = i.id
                 LEFT JOIN (SELECT item_id, count(*) AS n FROM labeling_annotation
                            WHERE project_id = %(p)s GROUP BY item_id) AS n ON n.item_id = i.id
                 WHERE i.project_id = %(p)s
                   AND (i.slots_taken <> coalesce(h.holders, 0)
                        OR i.annotation_count <> coalesce(n.n, 0)
                        OR coalesce(h.submitted, 0) <> coalesce(n.n, 0)
                        OR (i.status IN ('labeled', 'agreed', 'conflict', 'resolved'))
                           <> (i.annotation_count >= %(k)s + i.extra_slots)))
              + (SELECT count(*) FROM projects_membership m
                 LEFT JOIN (SELECT rater_id, count(*) AS n FROM labeling_annotation
                            WHERE project_id = %(p)s GROUP BY rater_id) AS r
                   ON r.rater_id = m.user_id
                 WHERE m.project_id = %(p)s AND m.labeled_total <> coalesce(r.n, 0))
            """,
            {"p": project.pk, "k": k, "ids": tally.created},
        )
        over_k, over_k_counter, twice, annotations, found, counters_off = cursor.fetchone()
    return {
        "items_over_k": max(over_k, over_k_counter),
        "items_twice_to_one_rater": twice,
        "submits_ok_client": len(tally.created),
        "annotations_in_db": annotations,
        "submissions_lost": len(tally.created) - found,
        "submits_unanswered": len(tally.unknown),
        "counter_mismatches": counters_off,
    }


def claim_query_plan(project: Any, username: str) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the item query a claim runs, captured from a real claim
    (rolled back) of a rater who has labeled hundreds of items. The assignment table is analyzed
    first, as autovacuum would have done by then: with statistics from when it was empty, the
    planner reads all the rater's assignments once per window row instead of probing the
    (item, rater) index."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from core import sql
    from labeling.assignment import item_claim

    rater = get_user_model().objects.get(username=username)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE labeling_assignment")
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        item_claim(project=project, rater=rater, hold=1)
        transaction.set_rollback(True)
    pick = next(
        q for q in captured.captured_queries
        if "SKIP LOCKED" in q.get("statement", "") and "win JOIN projects_item" in q["statement"]
    )  # fmt: skip
    with transaction.atomic():
        rows = sql.fetch_all("EXPLAIN (ANALYZE, BUFFERS) " + pick["statement"], pick["params"])
        transaction.set_rollback(True)
    plan = "\n".join(row[0] for row in rows)
    short_sql = re.sub(r"^SELECT .*? FROM \(", "SELECT ... FROM (", pick["statement"])
    return f"{short_sql}\n-- params {pick['params']}\n\n{plan}"


def rater_far_ahead(project: Any, done: int) -> str:
    """Claim latency for a rater who alone labeled the `done` items at the head of the queue
    (one slot each; nobody else started any): the case where one ordered scan would walk past
    all of them on every claim. The rows are made with SQL and removed afterwards; each claim
    is rolled back."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from labeling.assignment import item_claim
    from labeling.members import membership_set
    from projects.models import Role

    rater, _ = get_user_model().objects.get_or_create(username="bench-rater-ahead")
    membership_set(project=project, user=rater, role=Role.RATER)
    reset_labeling(project.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH head AS (
                SELECT id FROM projects_item WHERE project_id = %(p)s AND NOT is_gold
                ORDER BY slots_taken DESC, priority DESC, shuffle_key, id LIMIT %(n)s),
            taken AS (
                UPDATE projects_item i SET slots_taken = 1, status = 'in_progress'
                FROM head WHERE i.id = head.id RETURNING i.id)
            INSERT INTO labeling_assignment (project_id, item_id, rater_id, status, skip_reason,
                is_gold, created_at, updated_at)
            SELECT %(p)s, id, %(r)s, 'submitted', '', false, now(), now() FROM taken
            """,
            {"p": project.pk, "n": done, "r": rater.pk},
        )
    vacuum_analyze()
    timings = []
    try:
        for _ in range(7):
            with transaction.atomic():
                began = time.perf_counter()
                item_claim(project=project, rater=rater, hold=1)
                timings.append((time.perf_counter() - began) * 1000)
                transaction.set_rollback(True)
    finally:
        reset_labeling(project.pk)
    return (
        f"assignment.rater_far_ahead done_ahead={done} claims={len(timings)} "
        f"claim_p50_ms={percentile(timings, 0.5):.1f} claim_max_ms={max(timings):.1f}"
    )


def machine() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores (nproc), {memory_kb / 2**20:.0f} GiB memory, "
        f"{platform.platform()}, Python {platform.python_version()}, PostgreSQL {postgres}"
    )


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--raters", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=5,
        help="gunicorn sync workers; 5 = 2 x cores + 1: a request is mostly Python on a core and "
        "partly waiting on PostgreSQL (locks, the commit's WAL flush), so a worker per core would "
        "leave cores idle, and more than 2n + 1 only adds connections and context switches",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=1,
        help="threads per gunicorn worker: more than 1 runs gthread workers, which keep "
        "connections alive (sync workers close each one after its response)",
    )  # fmt: skip
    parser.add_argument("--saturation-seconds", type=float, default=60)
    parser.add_argument(
        "--rate", type=float, action="append",
        help="annotations/s of a steady phase; repeat for several phases (default: 100)",
    )  # fmt: skip
    parser.add_argument("--steady-seconds", type=float, default=60)
    parser.add_argument(
        "--progress-cache-seconds", type=int, default=None,
        help="how long the server caches a project's remaining count (default: the app's)",
    )  # fmt: skip
    parser.add_argument(
        "--far-ahead", type=int, default=100_000,
        help="items labeled by one rater alone, for the claim-latency check after the run",
    )  # fmt: skip
    parser.add_argument(
        "--timeline", action="store_true",
        help="print each second of the steady phases: claim latency beside the machine's busy "
        "and iowait shares and PostgreSQL's WAL, buffer writes, reads and autovacuum",
    )  # fmt: skip
    parser.add_argument("--reuse", action="store_true", help="keep the items of an earlier run")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    options = parser.parse_args()
    options.rate = options.rate or [100.0]
    if not 0 < options.raters <= 256 or not all(0 < rate <= 2000 for rate in options.rate):
        sys.exit("--raters must be 1..256 and --rate 1..2000")

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    database_url = os.environ["DATABASE_URL"]
    if urlparse(database_url).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("the bench runs against 127.0.0.1 only")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "0"
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    ensure_database(database_url)
    found = server_settings()
    settings_line = "assignment.server " + " ".join(f"{k}={v}" for k, v in found.items())
    print(settings_line, flush=True)
    project, accounts = prepare_project(options.items, options.raters, options.reuse)
    env = server_env(database_url, DEFAULT_REDIS_URL, options.progress_cache_seconds)
    worker = start_worker(env)
    gunicorn, port = start_gunicorn(options.workers, options.threads, env)
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = [settings_line]
    try:
        wait_until_serving(base, accounts[0][1], project.pk, gunicorn)
        if worker.poll() is not None:
            sys.exit("the Celery worker exited; see var/bench-assignment-worker.log")
        raters = [
            Rater(base, project.pk, secret, random.Random(n))
            for n, (_, secret) in enumerate(accounts)
        ]
        warm = Tally()
        saturation(raters, 3, warm)  # fill the workers' connections and caches
        database = connection.settings_dict["NAME"]
        print(f"gunicorn {options.workers} workers on {base}; load average {load_average()}")

        sat = Tally()
        with CpuSampler(gunicorn.pid, worker.pid, database) as sat_cpu:
            elapsed = saturation(raters, options.saturation_seconds, sat)
        lines.append(
            f"assignment.saturation raters={len(raters)} workers={options.workers} "
            f"seconds={elapsed:.0f} annotations={len(sat.created)} "
            f"annotations/s={len(sat.created) / elapsed:.1f} "
            f"{latency_fields('claim', sat.claim_ms)} {latency_fields('submit', sat.submit_ms)} "
            f"errors={sum(sat.errors.values())}"
        )
        lines.append(sat_cpu.line("saturation", len(sat.created)))
        print("\n".join(lines[-2:]), flush=True)

        steadies = []
        for rate in options.rate:
            stead = Tally()
            steadies.append(stead)
            seconds = Timeline(database)
            with CpuSampler(gunicorn.pid, worker.pid, database) as steady_cpu, ExitStack() as stack:
                if options.timeline:  # one more query a second on the server measured
                    stack.enter_context(seconds)
                elapsed = steady(raters, rate, options.steady_seconds, stead)
            lines.append(
                f"assignment.steady offered/s={rate:.0f} raters={len(raters)} "
                f"seconds={elapsed:.0f} annotations={len(stead.created)} "
                f"achieved/s={len(stead.created) / elapsed:.1f} "
                f"{latency_fields('claim', stead.claim_ms)} "
                f"{latency_fields('submit', stead.submit_ms)} "
                f"{latency_fields('annotation_from_schedule', stead.scheduled_ms)} "
                f"errors={sum(stead.errors.values())}"
            )
            lines.append(steady_cpu.line(f"steady{rate:.0f}", len(stead.created)))
            print("\n".join(lines[-2:]), flush=True)
            if options.timeline:
                print(seconds.table(stead, CLAIM_P99_TARGET_MS), flush=True)
    finally:
        stop_process(gunicorn)
        stop_process(worker)

    total = Tally()
    for part in (warm, sat, *steadies):
        total.created += part.created
        total.unknown += part.unknown
        total.errors.update(part.errors)
    checks = database_checks(project, total)
    lines.append("assignment.checks " + " ".join(f"{k}={v}" for k, v in checks.items()))
    if total.errors:
        lines.append(f"assignment.errors {dict(total.errors)}")
    print("\n".join(lines[-2:] if total.errors else lines[-1:]), flush=True)
    plan = claim_query_plan(project, accounts[0][0])
    print(plan)
    lines.append(rater_far_ahead(project, options.far_ahead))
    print(lines[-1], flush=True)

    if options.record:
        command = "python bench/assignment.py " + " ".join(sys.argv[1:])
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## {date.today().isoformat()}: assignment engine over HTTP, "
                f"{options.items:,} items, k=3\n\n"
                f"Machine: {machine()}. Load average before the run: {load_average()}.\n"
                f"Command: `{command}`. gunicorn {options.workers} "
                + (
                    f"gthread workers x {options.threads} threads"
                    if options.threads > 1
                    else "sync workers"
                )
                + " on 127.0.0.1 and a Celery worker (solo) beside it, raters on http.client,"
                " REDIS_URL set (cache and broker), CONN_MAX_AGE=600,"
                " prepared statements (psycopg prepare_threshold 5), the remaining count cached "
                + (
                    f"{options.progress_cache_seconds} s"
                    if options.progress_cache_seconds is not None
                    else "for the app's default 30 s"
                )
                + ".\n\n"
                "```\n" + "\n".join(lines) + "\n```\n\n"
                "The claim's item query on the 1M table (EXPLAIN ANALYZE after the run, "
                "labeling_assignment analyzed):\n\n"
                "```\n" + plan + "\n```\n"
            )
    failed = checks["items_over_k"] or checks["items_twice_to_one_rater"]
    if failed or checks["submissions_lost"] or checks["counter_mismatches"]:
        sys.exit("assignment checks FAILED")


if __name__ == "__main__":
    main()
