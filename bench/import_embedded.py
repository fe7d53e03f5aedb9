"""Benchmark: a large CSV imported from the web page on the embedded default (SQLite, a worker
through files), while raters label in another project.

    .venv/bin/python bench/import.py --sqlite [--rows 1200000] [--raters 4] [--record]

What it does, as a user would: a fresh var/ directory (no DATABASE_URL, no REDIS_URL), migrated;
a lead, a project of 20,000 items with `--raters` raters, and an empty project to import into;
then `manage.py serve` (gunicorn and the Celery worker, as `make run` starts them). The raters
label through the API (claim, then submit, with `--think` seconds between items, as a fast
person would), while the lead signs in on the login page and uploads the CSV through the
project's import form. The figures: the upload request's status and time, the job's time to
finish and items per second, each rater request's latency and every error they met.

Targets (issue: imports on the embedded default): the import completes; the raters get no
error; claim p99 under 1 s.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
LABELS = ["positive", "negative", "neutral"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


@dataclass
class Rater:
    """One rater's loop: claim, think, submit; every latency and error recorded."""

    port: int
    token: str
    project_id: int
    think: float
    claims: list[float] = field(default_factory=list)
    submits: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def request(self, conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        conn.request("POST", path, json.dumps(body), headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{path}: {response.status} {payload[:200]!r}")
        return json.loads(payload)

    def run(self) -> None:
        base = f"/api/v1/projects/{self.project_id}/labeling/"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            try:
                started = time.perf_counter()
                items = self.request(conn, f"{base}claim/", {"hold": 1})["items"]
                self.claims.append(time.perf_counter() - started)
                if not items:
                    return
                time.sleep(self.think)
                item_id = items[0]["item"]["id"]
                body = {"value": LABELS[item_id % 3], "client_id": str(uuid.uuid4())}
                started = time.perf_counter()
                self.request(conn, f"{base}items/{item_id}/submit/", body)
                self.submits.append(time.perf_counter() - started)
            except Exception as error:  # every failure a rater would see counts
                self.errors.append(f"{type(error).__name__}: {error}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                time.sleep(0.2)


class Browser:
    """Just enough of a browser for the login page and the upload form: cookies and CSRF."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def _send(self, method: str, path: str, body: Any = b"", headers: dict[str, str] | None = None,
              length: int | None = None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = dict(headers or {})
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers["Referer"] = f"http://127.0.0.1:{self.port}{path}"
        if length is not None:
            headers["Content-Length"] = str(length)
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, dict(response.getheaders()), response.read()

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self._send("GET", path)

    def login(self, username: str, password: str) -> None:
        self.get("/accounts/login/")
        csrf = self.cookies["csrftoken"]
        form = f"username={username}&password={password}&csrfmiddlewaretoken={csrf}"
        status, _, _ = self._send(
            "POST", "/accounts/login/", form.encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        if status != 302:
            sys.exit(f"login failed: {status}")

    def upload(self, path: str, file: Path) -> tuple[int, str, float]:
        """POST the import form with the file, streamed; returns status, Location, seconds."""
        self.get(path)
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f"{self.cookies['csrftoken']}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="format"\r\n\r\nauto\r\n--{boundary}\r\nContent-Disposition: form-data; '
            f'name="file"; filename="{file.name}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        length = len(head) + file.stat().st_size + len(tail)

        def body() -> Any:
            yield head
            with file.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk
            yield tail

        started = time.perf_counter()
        status, headers, _ = self._send(
            "POST", path, body(), {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            length=length,
        )  # fmt: skip
        return status, headers.get("Location", ""), time.perf_counter() - started


def setup(env: dict[str, str], raters: int, items: int) -> dict[str, Any]:
    """Migrate a fresh database and make the lead, the raters, their tokens and two projects."""
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=ROOT,
                   check=True)  # fmt: skip
    script = f"""
import json
from django.contrib.auth import get_user_model
from labeling.members import membership_set
from projects.services.tokens import api_token_create
from tests.factories import make_items, make_project
User = get_user_model()
lead = User.objects.create_user("lead", password="bench-password-1")
raters = [User.objects.create_user(f"rater{{n}}", password="x") for n in range({raters})]
labeling = make_project(lead=lead, raters=raters, name="Labeling", raters_per_item=1)
make_items(labeling, {items})
target = make_project(lead=lead, name="Import target")
tokens = [api_token_create(user=r, name="bench")[1] for r in raters]
print(json.dumps({{"labeling": labeling.pk, "target": target.pk, "tokens": tokens}}))
"""
    out = subprocess.run([PYTHON, "manage.py", "shell", "-c", script], env=env, cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def wait_http(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/accounts/login/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not answer within a minute")


def run(*, rows: int, raters: int, think: float, items: int, write_csv: Any) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="accord-embedded-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"ACCORD_VAR_DIR": str(work / "var"), "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DEBUG": "0", "PYTHONPATH": str(ROOT)}  # fmt: skip
    csv_path = work / "messages.csv"
    write_csv(csv_path, rows)
    size_mb = csv_path.stat().st_size / 2**20
    ids = setup(env, raters, items)
    port = free_port()
    subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], env=env, cwd=ROOT,
                   check=True)  # fmt: skip
    server = subprocess.Popen(
        [PYTHON, "manage.py", "serve", "--port", str(port)], env=env, cwd=ROOT,
        stdout=(work / "serve.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    lines = [f"csv: {rows} rows, {size_mb:.1f} MB; SQLite, worker through files; "
             f"{raters} raters labeling another project, {think:.1f} s per item"]  # fmt: skip
    try:
        wait_http(port)
        team = [Rater(port, token, ids["labeling"], think) for token in ids["tokens"]]
        threads = [threading.Thread(target=r.run, daemon=True) for r in team]
        for thread in threads:
            thread.start()
        time.sleep(5)  # the raters are at work before the upload starts
        lead = Browser(port)
        lead.login("lead", "bench-password-1")
        status, location, upload_s = lead.upload(f"/projects/{ids['target']}/import/", csv_path)
        match = re.search(r"/imports/(\d+)/", location)
        if status != 302 or match is None:
            sys.exit(f"the upload answered {status} (Location {location!r})")
        job_id = match.group(1)
        started = time.perf_counter()
        state: dict[str, Any] = {}
        phases: dict[str, float] = {}
        while not state.get("finished"):
            time.sleep(0.5)
            _, _, body = lead.get(f"/projects/{ids['target']}/imports/{job_id}/status.json")
            state = json.loads(body)
            phases.setdefault(state["phase"] or state["status"], time.perf_counter() - started)
        job_s = time.perf_counter() - started
        for rater in team:
            rater.stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    claims = [s * 1000 for r in team for s in r.claims]
    submits = [s * 1000 for r in team for s in r.submits]
    errors = [e for r in team for e in r.errors]
    created = state["counts"].get("created_count", 0)
    lines += [
        f"import.embedded upload_status={status} upload_s={upload_s:.1f} "
        f"job_status={state['status']} job_s={job_s:.1f} created={created} "
        f"items/s={created / job_s:,.0f} phases_started_s="
        + ",".join(f"{name}:{at:.0f}" for name, at in phases.items()),
        f"import.embedded.raters claims={len(claims)} claim_p50_ms={percentile(claims, 0.5):.0f} "
        f"claim_p95_ms={percentile(claims, 0.95):.0f} claim_p99_ms={percentile(claims, 0.99):.0f} "
        f"claim_max_ms={max(claims, default=0):.0f} submit_p99_ms={percentile(submits, 0.99):.0f} "
        f"errors={len(errors)}",
    ]
    lines += [f"  error: {e}" for e in errors[:5]]
    return lines
