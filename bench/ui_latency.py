"""Benchmark: keypress to next item painted, on the labeling page in a real Chromium.

    .venv/bin/python bench/ui_latency.py [--items 300] [--samples 50] [--warmup 5]
        [--workers 2] [--no-record]

Serves the app with gunicorn on a free port of 127.0.0.1 (config.settings.local, DEBUG off,
static files collected and served by WhiteNoise) on a fresh SQLite database in a temporary
directory, or on the database of DATABASE_URL when it is set (migrated; a new project is added,
nothing is deleted). Seeds a project of `--items` text items of mixed lengths and a rater; then a
headless Chromium (Debian's, never a downloaded one) logs in as the rater and labels
`--warmup + --samples` items by keyboard: "1", then Enter.

What is measured, by the page itself (static/js/labeling/main.js and the modules it imports; the
measurement is in timing.js): from the Enter keydown event's timestamp to the frame after the next
item was rendered (requestAnimationFrame, then a message posted from it, which runs once that frame
is painted). The samples are read from `window.accordLatency`. Between two items the script waits
until the page holds its prefetched item again and has nothing left to send, as a rater reading the
new item would; that background round trip (submit, then claim) is reported too. Target: keypress to
next item < 100 ms.

The result lines are printed and appended to bench/RESULTS.md (append only).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RATER = "bench-ui-rater"
TARGET_MS = 100.0
SENTENCES = [
    "The parcel arrived two days late, but the courier was polite.",
    "I was charged twice for the same order and nobody answers my emails.",
    "Great service, the replacement came the next morning.",
    "Can you tell me whether the blue model fits the older base?",
    "The app logs me out every time I switch to another tab.",
    "Thanks to Maria at the front desk for sorting this out so quickly!",
]


# --- the app ------------------------------------------------------------------------------------


def prepare_environment(var_dir: Path) -> str:
    """Environment of this process and of gunicorn; returns a description of the database."""
    os.environ["ACCORD_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)  # the cache in-process: nothing shared with other runs
    url = os.environ.get("DATABASE_URL", "")
    if url and urlparse(url).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("the bench runs against 127.0.0.1 only")
    return f"PostgreSQL ({urlparse(url).path.lstrip('/')})" if url else "SQLite (temporary file)"


def ensure_database() -> None:
    """With DATABASE_URL on PostgreSQL, create the database when missing."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    parsed = urlparse(url)
    result = subprocess.run(
        ["createdb", "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432),
         "-U", parsed.username or "postgres", parsed.path.lstrip("/")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0 and "already exists" not in result.stderr:
        sys.exit(f"createdb failed: {result.stderr.strip()}")


def seed(items: int) -> tuple[int, str]:
    """A project of `items` text items and a rater; returns the project id and the password."""
    from django.contrib.auth import get_user_model

    from labeling.members import membership_set
    from projects.models import Item, Role
    from projects.services.projects import project_create

    password = secrets.token_urlsafe(12)
    rater, _ = get_user_model().objects.get_or_create(username=RATER)
    rater.set_password(password)
    rater.save()
    project = project_create(
        created_by=None,
        name=f"bench: ui latency {time.strftime('%Y-%m-%d %H:%M:%S')}",
        instructions="Label the **feeling** of the message.\n\n- 1 positive\n- 2 negative",
        raters_per_item=1,
        labels=[
            {"value": "positive", "display_name": "Positive", "color": "#2e9e5b", "hotkey": "1"},
            {"value": "negative", "display_name": "Negative", "color": "#d64545", "hotkey": "2"},
            {"value": "neutral", "display_name": "Neutral", "color": "#8a8f98", "hotkey": "3"},
        ],
    )
    membership_set(project=project, user=rater, role=Role.RATER)
    rows = []
    for n in range(items):
        # From one line to a long message of a few paragraphs (about 2 KB).
        body = "\n\n".join(SENTENCES[(n + k) % len(SENTENCES)] * (1 + k % 3) for k in range(n % 7))
        text = f"Message {n}.\n{body}" if body else f"Message {n}: {SENTENCES[n % len(SENTENCES)]}"
        digest = hashlib.sha256(text.encode()).hexdigest()
        rows.append(
            Item(
                project=project,
                key=f"msg-{n:05d}",
                text=text,
                content_hash=digest,
                shuffle_key=int(digest[:7], 16),
            )
        )
    Item.objects.bulk_create(rows, batch_size=1000)
    return project.pk, password


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_gunicorn(workers: int, var_dir: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log_path = var_dir / "gunicorn.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "60",
         "--log-level", "warning"],
        cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return process, port, log_path


def wait_until_serving(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/accounts/login/", timeout=10) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("gunicorn did not answer within 60 s")


def stop_gunicorn(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the browser --------------------------------------------------------------------------------

READY = """() => {
  const s = window.accordLabeling && window.accordLabeling.snapshot();
  return s && s.mode === "current" && s.queued >= 2 && s.outbox === 0;
}"""


def drive(base: str, project_id: int, password: str, count: int) -> tuple[list[float], list[float]]:
    """Label `count` items by keyboard; return (keypress-to-painted ms, refill ms) per item.
    The refill is timed from when the script sees the new item painted until the page again
    holds a prefetched item and has sent everything."""
    from playwright.sync_api import sync_playwright

    refill_ms: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1360, "height": 860}).new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base}/accounts/login/?next=/label/{project_id}/")
            page.fill("input[name=username]", RATER)
            page.fill("input[name=password]", password)
            page.press("input[name=password]", "Enter")
            page.wait_for_url(f"**/label/{project_id}/")
            page.wait_for_function(READY, polling=5)
            for _ in range(count):
                taken = page.evaluate("() => window.accordLatency.samples.length")
                page.keyboard.press("1")
                page.keyboard.press("Enter")
                page.wait_for_function(
                    f"() => window.accordLatency.samples.length > {taken}", polling=5
                )
                started = time.perf_counter()
                page.wait_for_function(READY, polling=5)
                refill_ms.append((time.perf_counter() - started) * 1000)
            page.wait_for_function("() => window.accordLabeling.snapshot().outbox === 0")
            samples = page.evaluate("() => window.accordLatency.samples.map((s) => s.ms)")
        finally:
            browser.close()
    return [float(ms) for ms in samples], refill_ms


# --- figures ------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def line(name: str, values: list[float]) -> str:
    return (
        f"ui_latency {name} n={len(values)} p50_ms={percentile(values, 0.50):.1f} "
        f"p95_ms={percentile(values, 0.95):.1f} max_ms={max(values):.1f}"
    )


def machine() -> str:
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{os.cpu_count()} cores (nproc), {memory_kb / 2**20:.0f} GiB memory, "
        f"{platform.platform()}, Python {platform.python_version()}, {chromium or 'Chromium'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--record",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="append the result to bench/RESULTS.md (default: yes)",
    )
    options = parser.parse_args()
    if options.items < options.samples + options.warmup + 2:
        sys.exit("--items must exceed --samples + --warmup (+2 for the prefetch)")
    if not Path(CHROMIUM).exists():
        sys.exit("Chromium not found: install it with `apt-get install -y chromium`.")

    var_dir = Path(tempfile.mkdtemp(prefix="accord-ui-bench-"))
    gunicorn: subprocess.Popen[bytes] | None = None
    try:
        database = prepare_environment(var_dir)
        ensure_database()
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from labeling.models import Annotation

        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        project_id, password = seed(options.items)
        connection.close()

        gunicorn, port, log_path = start_gunicorn(options.workers, var_dir)
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, gunicorn, log_path)
        count = options.warmup + options.samples
        samples, refills = drive(base, project_id, password, count)
        labeled = Annotation.objects.filter(project_id=project_id).count()
    finally:
        if gunicorn is not None:
            stop_gunicorn(gunicorn)
        shutil.rmtree(var_dir, ignore_errors=True)

    measured = samples[options.warmup :]
    met = "yes" if percentile(measured, 0.95) < TARGET_MS else "NO"
    lines = [
        line("keypress_to_next_item", measured),
        line("submit_to_prefetch_refilled", refills[options.warmup :]),
        f"ui_latency checks labeled={labeled} expected={count} "
        f"target_p95_ms={TARGET_MS:.0f} met={met}",
    ]
    print("\n".join(lines))
    if options.record:
        command = "python bench/ui_latency.py " + " ".join(sys.argv[1:])
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## {date.today().isoformat()}: labeling page, keypress to next item "
                "(Playwright, headless Chromium)\n\n"
                f"Machine: {machine()}.\n"
                f"Command: `{command.strip()}`. gunicorn {options.workers} sync workers on "
                f"127.0.0.1, {database}, DEBUG off; {options.items} text items, "
                f"{options.warmup} warm-up items not counted. Measured in the page from the "
                "Enter keydown to the frame after the next item is painted; the prefetch is "
                "refilled (submit + claim in the background) before each keypress.\n\n"
                "```\n" + "\n".join(lines) + "\n```\n"
            )
    if labeled != count:
        sys.exit(f"labels lost: {count - labeled}")


if __name__ == "__main__":
    main()
