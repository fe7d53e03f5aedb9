"""The log simulator (bench/feedback_logs.py) that the feedback tests and benchmarks run on.

What the later tests rely on: it is deterministic, its rates come out as configured, its ground
truth matches its events, its other shapes carry the same events, it streams in flat memory, and
its signals carry information about relevance. Tolerances are four binomial standard deviations
(sqrt(p(1 - p) / n)) unless said otherwise.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import math
import statistics
import subprocess
import sys
import tracemalloc
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.feedback_logs import (
    CSV_COLUMNS,
    EVENT_TYPES,
    SEGMENT_EVENTS,
    FeedbackLogSimulator,
    SimulatorConfig,
    main,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = SimulatorConfig(n_items=2_000, n_sessions=20_000, seed=12, missing_id_share=0.05)


def within(observed: float, expected: float, n: int, *, sds: float = 4.0) -> bool:
    return abs(observed - expected) <= sds * math.sqrt(expected * (1 - expected) / n)


def identity(event: dict[str, Any]) -> tuple[str, str, int]:
    """Every simulated event is unique by its type, request and position (the docstring's
    promise, which makes fingerprints of id-less events sound)."""
    return event["event_type"], event["request_id"], event["position"]


@pytest.fixture(scope="module")
def simulator() -> FeedbackLogSimulator:
    return FeedbackLogSimulator(CONFIG)


@pytest.fixture(scope="module")
def stream(simulator: FeedbackLogSimulator) -> list[dict[str, Any]]:
    return list(simulator.events())


@pytest.fixture(scope="module")
def distinct(stream: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First deliveries only."""
    seen: set[tuple[str, str, int]] = set()
    first = []
    for event in stream:
        if identity(event) not in seen:
            seen.add(identity(event))
            first.append(event)
    return first


@pytest.fixture(scope="module")
def relevance(simulator: FeedbackLogSimulator) -> dict[str, int]:
    return simulator.truth.relevance_of()


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [event for event in events if event["event_type"] == event_type]


# --- determinism ----------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_lines_and_another_seed_other_lines():
    small = SimulatorConfig(
        n_items=300, n_sessions=1_500, seed=5, missing_id_share=0.1, malformed_share=0.01
    )
    for fmt in ("jsonl", "segment", "csv"):
        first = list(FeedbackLogSimulator(small).lines(fmt))
        assert list(FeedbackLogSimulator(small).lines(fmt)) == first
        assert list(FeedbackLogSimulator(small, seed=6).lines(fmt)) != first
    # A simulator replays its stream, and its stats count one stream.
    simulator = FeedbackLogSimulator(small)
    lines = list(simulator.lines("jsonl"))
    stats = simulator.stats.as_dict()
    assert list(simulator.lines("jsonl")) == lines
    assert simulator.stats.as_dict() == stats
    assert stats["lines"] == len(lines) == stats["deliveries"] + stats["malformed"]
    assert stats["malformed"] > 0
    assert (
        FeedbackLogSimulator(small).truth.relevance.tolist()
        == simulator.truth.relevance.tolist()
        != FeedbackLogSimulator(small, seed=6).truth.relevance.tolist()
    )


def test_the_jsonl_lines_are_the_events_as_json_writes_them(stream):
    lines = list(FeedbackLogSimulator(CONFIG).lines("jsonl"))
    assert lines == [json.dumps(event, separators=(",", ":")) for event in stream]


# --- rates ----------------------------------------------------------------------------------------


def test_click_through_falls_with_position_as_examination_says(distinct, relevance):
    """P(click | relevant, position p) = click_relevant * p ** -eta: the position-based model
    (Craswell et al. 2008), whatever the ranker did."""
    shown: Counter[int] = Counter()
    shown_relevant: Counter[int] = Counter()
    clicks: Counter[int] = Counter()
    clicks_relevant: Counter[int] = Counter()
    for event in distinct:
        rel = relevance[event["item_key"]]
        if event["event_type"] == "impression":
            shown[event["position"]] += 1
            shown_relevant[event["position"]] += rel
        elif event["event_type"] == "click":
            clicks[event["position"]] += 1
            clicks_relevant[event["position"]] += rel
    positions = range(1, CONFIG.list_length + 1)
    ctr = [clicks[p] / shown[p] for p in positions]
    assert all(a > b for a, b in itertools.pairwise(ctr)), ctr
    for p in positions:
        expected = CONFIG.click_relevant * p**-CONFIG.eta
        assert within(clicks_relevant[p] / shown_relevant[p], expected, shown_relevant[p])
    # The noisy ranker puts relevant items higher: more of them at the top than at the bottom.
    assert shown_relevant[1] / shown[1] > shown_relevant[10] / shown[10] + 0.1


def test_dwell_medians_follow_relevance(distinct, relevance):
    dwell = defaultdict(list)
    for event in of_type(distinct, "dwell"):
        dwell[relevance[event["item_key"]]].append(event["value"])
    # The median of n log-normal draws has sd about 1.2533 * sigma / sqrt(n) on the log scale.
    for rel, median in ((1, CONFIG.dwell_median_relevant), (0, CONFIG.dwell_median_not_relevant)):
        values = dwell[rel]
        tolerance = 4 * 1.2533 * CONFIG.dwell_sigma / math.sqrt(len(values))
        assert abs(math.log(statistics.median(values) / median)) < tolerance


def test_duplicate_late_missing_id_and_unknown_shares(stream, distinct, simulator):
    n = len(distinct)
    duplicates = len(stream) - n
    assert within(duplicates / n, CONFIG.duplicate_share, n)
    # A repeated delivery is the same event, id (or its absence) included.
    first = {identity(event): event for event in distinct}
    assert all(first[identity(event)] == event for event in stream)
    # Late: first deliveries stamped before something delivered earlier. Events delivered on
    # time never are; a late one almost always is (at least a minute late, 17 sessions a minute).
    latest = ""
    out_of_order = 0
    for event in distinct:
        if event["timestamp"] < latest:
            out_of_order += 1
        latest = max(latest, event["timestamp"])
    assert within(out_of_order / n, CONFIG.late_share, n)
    assert out_of_order <= simulator.stats.late
    missing = sum("event_id" not in event for event in distinct)
    assert within(missing / n, CONFIG.missing_id_share, n)
    impressions = of_type(distinct, "impression")
    items = set(simulator.truth.item_keys)
    unknown = sum(event["item_key"] not in items for event in impressions)
    assert within(unknown / len(impressions), CONFIG.unknown_key_share, len(impressions))
    assert simulator.stats.duplicates == duplicates
    assert simulator.stats.distinct_events == n


def test_purchases_are_rare_and_late_thumbs_and_corrections_mostly_right(distinct, relevance):
    clicks = {(e["request_id"], e["position"]): e for e in of_type(distinct, "click")}
    purchases = of_type(distinct, "purchase")
    assert 0 < len(purchases) < 0.1 * len(clicks)
    delays_h = []
    for purchase in purchases:
        click = clicks[purchase["request_id"], purchase["position"]]
        delay = parse(purchase["timestamp"]) - parse(click["timestamp"])
        delays_h.append(delay.total_seconds() / 3600)
    # Log-normal delay: median 12 h, and a fair share beyond a day (P(z > ln 2 / 1.2) = 0.28).
    assert 8 < statistics.median(delays_h) < 18
    assert 0.18 < sum(d > 24 for d in delays_h) / len(delays_h) < 0.38
    assert sum(relevance[p["item_key"]] for p in purchases) / len(purchases) > 0.9

    thumbs = of_type(distinct, "thumbs")
    agree = sum((t["value"] == 1) == bool(relevance[t["item_key"]]) for t in thumbs)
    assert within(agree / len(thumbs), 1 - CONFIG.thumbs_flip, len(thumbs))
    corrections = of_type(distinct, "correction")
    right = sum((c["label"] == "relevant") == bool(relevance[c["item_key"]]) for c in corrections)
    assert within(right / len(corrections), 1 - CONFIG.correction_error, len(corrections))


# --- ground truth ---------------------------------------------------------------------------------


def test_the_ground_truth_matches_the_events(simulator, distinct):
    truth = simulator.truth
    assert len(truth.item_keys) == CONFIG.n_items
    assert len(truth.keys) == CONFIG.n_items + CONFIG.n_unknown
    assert len(set(truth.keys)) == len(truth.keys)
    assert not truth.is_item[CONFIG.n_items :].any()
    assert within(float(truth.relevance.mean()), CONFIG.relevant_share, len(truth.keys))
    keys = set(truth.keys)
    impressions = {}
    for event in distinct:
        assert event["item_key"] in keys
        assert event["event_type"] in EVENT_TYPES
        assert datetime.fromisoformat(event["timestamp"]).utcoffset().total_seconds() == 0
        if event["event_type"] == "impression":
            impressions[event["request_id"], event["position"]] = event
    assert len(impressions) == CONFIG.n_sessions * CONFIG.list_length
    # Every other event follows the impression of its request and position, on the same item.
    for event in distinct:
        shown = impressions[event["request_id"], event["position"]]
        assert shown["item_key"] == event["item_key"]
        assert shown["session_id"] == event["session_id"]
        assert shown["user_id"] == event["user_id"]
        if event["event_type"] != "impression":
            assert event["timestamp"] > shown["timestamp"]
    # A ranked list shows distinct items.
    lists = defaultdict(set)
    for (request, _), shown in impressions.items():
        lists[request].add(shown["item_key"])
    assert sum(len(items) for items in lists.values()) >= 0.999 * len(impressions)


def test_the_signals_carry_relevance(distinct, relevance):
    """The oracle the weak-label tests build on: per item, "its median dwell is at least 30 s"
    agrees with the truth far more often than the majority class does on the items it covers;
    and the one-sided "some dwell of at least 30 s means relevant" is far more precise than the
    share of relevant items among those it covers would give by chance."""
    dwells = defaultdict(list)
    for event in of_type(distinct, "dwell"):
        dwells[event["item_key"]].append(event["value"])
    covered = list(dwells)
    truth = np.array([relevance[key] for key in covered])
    vote = np.array([statistics.median(dwells[key]) >= 30 for key in covered])
    accuracy = float((vote == truth).mean())
    majority = max(truth.mean(), 1 - truth.mean())
    assert accuracy > majority + 0.15, (accuracy, majority)
    assert accuracy > 0.85

    # Per dwell event, as a one-sided rule votes.
    long = [relevance[e["item_key"]] for e in of_type(distinct, "dwell") if e["value"] >= 30]
    all_dwells = [relevance[e["item_key"]] for e in of_type(distinct, "dwell")]
    assert sum(long) / len(long) > sum(all_dwells) / len(all_dwells) + 0.1


# --- other shapes ---------------------------------------------------------------------------------

SMALL = SimulatorConfig(n_items=400, n_sessions=2_000, seed=3, missing_id_share=0.1)


def test_segment_track_calls_carry_the_same_events():
    events = list(FeedbackLogSimulator(SMALL).events())
    names = {name: event_type for event_type, name in SEGMENT_EVENTS.items()}
    back = []
    for line in FeedbackLogSimulator(SMALL).lines("segment"):
        track = json.loads(line)
        assert track["type"] == "track"
        properties = dict(track["properties"])
        event = {"event_id": track["messageId"]} if "messageId" in track else {}
        event["event_type"] = names[track["event"]]
        event["item_key"] = properties.pop("product_id")
        event["timestamp"] = track["timestamp"]
        event["request_id"] = properties.pop("request_id")
        event["position"] = properties.pop("position")
        event["user_id"] = track["userId"]
        event["session_id"] = properties.pop("session_id")
        for name in ("value", "label"):
            if name in properties:
                event[name] = properties.pop(name)
        if properties:
            event["properties"] = properties
        back.append(event)
    assert back == events


def test_csv_with_other_column_names_carries_the_same_events(tmp_path):
    events = list(FeedbackLogSimulator(SMALL).events())
    path = tmp_path / "events.csv.gz"
    FeedbackLogSimulator(SMALL).write(path, "csv")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(events)
    for row, event in zip(rows, events, strict=True):
        assert row["id"] == event.get("event_id", "")
        assert row["kind"] == event["event_type"]
        assert row["product"] == event["item_key"]
        assert parse(row["occurred_at"]) == parse(event["timestamp"])
        assert (row["search_id"], int(row["rank"])) == (event["request_id"], event["position"])
        assert (row["visitor"], row["visit"]) == (event["user_id"], event["session_id"])
        assert (float(row["amount"]) if row["amount"] else None) == event.get("value")
        assert (row["judgement"] or None) == event.get("label")
        assert (row["query"] or None) == event.get("properties", {}).get("query")


@pytest.mark.parametrize("fmt", ["jsonl", "segment", "csv"])
def test_malformed_lines_are_where_the_stats_say(fmt):
    simulator = FeedbackLogSimulator(SMALL, malformed_share=0.01)
    lines = list(simulator.lines(fmt))
    bad = dict(simulator.stats.malformed)
    assert set(Counter(bad.values())) == {"bad_json", "missing_item_key", "bad_timestamp"}
    header = next(csv.reader([lines[0]])) if fmt == "csv" else None
    good = 0
    for number, line in enumerate(lines, start=1):
        if header is not None and number == 1:
            continue
        problem = check(line, fmt, header)
        assert problem == bad.get(number), (number, line)
        good += problem is None
    assert good == simulator.stats.deliveries
    assert within(len(bad) / good, 0.01, good)


def check(line: str, fmt: str, header: list[str] | None) -> str | None:
    """What an ingest would quarantine the line for, or None."""
    if header is not None:
        row = next(csv.reader([line]))
        if len(row) != len(header):
            return "bad_json"
        record = dict(zip(header, row, strict=True))
        key, stamp = record["product"], record["occurred_at"]
    else:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return "bad_json"
        source = record["properties"] if fmt == "segment" else record
        key = source.get("product_id" if fmt == "segment" else "item_key", "")
        stamp = record["timestamp"]
    if not key:
        return "missing_item_key"
    try:
        parse(stamp)
    except ValueError:
        return "bad_timestamp"
    return None


# --- streaming and the command line -------------------------------------------------------------


# VmHWM, the process's peak resident set; not ru_maxrss, which Linux carries over an exec from
# the forked parent (this test process, holding the module's events).
CHILD = """
import sys
from pathlib import Path
from bench.feedback_logs import FeedbackLogSimulator
simulator = FeedbackLogSimulator(n_items=10_000, n_sessions=int(sys.argv[1]), seed=1)
count = sum(1 for _ in simulator.lines("jsonl"))
status = Path("/proc/self/status").read_text()
peak_kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
print(count, int(peak_kb) * 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_a_million_lines_stream_in_flat_memory():
    """The peak resident memory of a process that writes a million lines is that of one writing
    a tenth of them, give or take a few megabytes (RSS rather than tracemalloc, which would make
    a million dicts take minutes)."""

    def run(sessions: int) -> tuple[int, int]:
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(sessions)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=240,
        )
        count, peak = result.stdout.split()
        return int(count), int(peak)

    small_count, small_peak = run(8_000)
    count, peak = run(80_000)
    assert count >= 1_000_000 > 9 * small_count
    assert peak < small_peak + 16 * 2**20, (small_peak, peak)
    assert peak < 200 * 2**20


def test_the_batches_hold_only_what_is_pending():
    """tracemalloc's peak over the numpy stage for a million events is that of a tenth of them:
    only events not yet due (delayed purchases, late and repeated deliveries) wait for the next
    batch."""

    def peak(sessions: int) -> tuple[int, int]:
        simulator = FeedbackLogSimulator(n_items=10_000, n_sessions=sessions, seed=1)
        tracemalloc.start()
        try:
            count = sum(batch["ts"].size for batch in simulator._batches())
            return count, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small_count, small_peak = peak(8_000)
    count, big_peak = peak(80_000)
    assert count >= 1_000_000 > 9 * small_count
    assert big_peak < 1.25 * small_peak, (small_peak, big_peak)
    assert big_peak < 32 * 2**20


def test_the_command_line_writes_events_truth_and_items(tmp_path: Path, capsys):
    out, truth, items = tmp_path / "e.jsonl.gz", tmp_path / "truth.csv", tmp_path / "items.csv"
    main(
        [
            "--items=100",
            "--sessions=200",
            "--seed=4",
            f"--out={out}",
            f"--truth-out={truth}",
            f"--items-out={items}",
            "--duplicate-share=0.1",
        ]
    )
    summary = json.loads(capsys.readouterr().err)
    with gzip.open(out, "rt") as handle:
        events = [json.loads(line) for line in handle]
    assert len(events) == summary["deliveries"] > 2_000
    expected = FeedbackLogSimulator(n_items=100, n_sessions=200, seed=4, duplicate_share=0.1)
    assert events == list(expected.events())
    with truth.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["key"] for row in rows] == expected.truth.keys
    assert [int(row["relevant"]) for row in rows] == expected.truth.relevance.tolist()
    with items.open() as handle:
        assert [row["key"] for row in csv.DictReader(handle)] == expected.truth.item_keys


def parse(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    if moment.utcoffset() is None:
        raise ValueError("no time zone")
    return moment
