"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 (a free port, in a thread)
that checks each call's signature exactly as the README tells receivers to, and answers as a
test tells it (500 for the first N calls, then 200; a redirect; no answer at all).

Also a ready dataset version to announce, made as the build would leave one: numbered, with
its files listed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.utils import timezone

from core.jobs.models import JobStatus
from exports.models import DatasetFile, DatasetVersion, VersionOutcome
from projects.models import Project


def verify(secret: str, headers: Mapping[str, str], body: bytes, tolerance: int = 300) -> bool:
    """The README's recipe, line for line."""
    timestamp = headers["X-Accord-Timestamp"]
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected, headers["X-Accord-Signature"])


@dataclass
class Call:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float  # time.monotonic() on arrival

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: str = ""
    fail_first: int = 0  # answer 500 to this many calls, then 200
    status_after: int = 200
    redirect_to: str = ""
    hang: threading.Event | None = None  # when set, wait for it (or 10 s) before answering
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_for(self, call: Call) -> int:
        with self.lock:
            self.calls.append(call)
            n = len(self.calls)
        if self.redirect_to:
            return 302
        if not call.verified:
            return 401
        return 500 if n <= self.fail_first else self.status_after

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.calls)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name: value for name, value in self.headers.items()}
            try:
                verified = verify(receiver.secret, headers, body)
            except (KeyError, ValueError):
                verified = False
            status = receiver.answer_for(Call(headers, body, verified, time.monotonic()))
            if receiver.hang is not None:
                receiver.hang.wait(10)
            self.send_response(status)
            if status == 302:
                self.send_header("Location", receiver.redirect_to)
            reply = b'{"ok": true}' if status < 300 else b"receiver says no"
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_receiver(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(url="", **options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/accord"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hang is not None:
            receiver.hang.set()
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}/nobody-home"


def ready_version(project: Project, *, number: int = 1, media: int = 2) -> DatasetVersion:
    """A version as a finished build leaves it: ready, numbered, its files listed."""
    now = timezone.now()
    version = DatasetVersion.objects.create(
        project=project, status=JobStatus.SUCCEEDED, outcome=VersionOutcome.BUILT, number=number,
        name="First cut", spec={"sources": ["resolution", "consensus"]}, spec_hash="5" * 64,
        content_hash="c" * 64, row_count=1234, ready_at=now, finished_at=now,
        storage_prefix=f"datasets/{project.pk}/x",
    )  # fmt: skip
    files = [
        ("data.parquet", DatasetFile.Kind.PARQUET, "application/vnd.apache.parquet", 52_100),
        ("data.jsonl", DatasetFile.Kind.JSONL, "application/x-ndjson", 88_400),
        ("manifest.json", DatasetFile.Kind.MANIFEST, "application/json", 4_100),
    ] + [(f"images/{n:064x}.png", DatasetFile.Kind.MEDIA, "image/png", 900) for n in range(media)]
    rows = [
        DatasetFile(
            version=version,
            name=name,
            kind=kind,
            content_type=content_type,
            storage_name=f"{version.storage_prefix}/{name}",
            size=size,
            sha256=hashlib.sha256(name.encode()).hexdigest(),
        )
        for name, kind, content_type, size in files
    ]
    DatasetFile.objects.bulk_create(rows)
    return version
