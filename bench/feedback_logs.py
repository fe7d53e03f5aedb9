"""A simulator of process-feedback logs with known relevance, for the feedback tests and benchmarks.

    .venv/bin/python bench/feedback_logs.py --items 10000 --sessions 100000 --seed 1 \\
        --out var/feedback.jsonl.gz [--format jsonl|segment|csv] [--csv] \\
        [--truth-out truth.csv] [--items-out items.csv] [--duplicate-share 0.02] ...

Standard library and numpy only (no Django), so tests, `bench/ingest.py` and a shell can all use
it. In Python:

    from bench.feedback_logs import FeedbackLogSimulator, SimulatorConfig
    sim = FeedbackLogSimulator(SimulatorConfig(n_items=2_000, n_sessions=20_000, seed=7))
    sim.truth                       # the catalogue: keys, relevance, which keys are items
    for event in sim.events(): ...  # dicts in delivery order (noise included), streamed
    for line in sim.lines("jsonl"): ...  # or "segment" or "csv" (header first); malformed lines
    sim.stats                       # what the last stream produced (counts, bad lines)

Every run is deterministic given the whole config (seed, sizes, rates and `batch_sessions`) and
the numpy version (numpy may change its random streams between feature releases), and streams: a
batch of `batch_sessions` sessions is drawn at once with numpy, and only events not yet due
(delayed purchases, late or repeated deliveries) are carried to the next batch, so memory does not
grow with the number of events.

The model
=========

Items. `n_items` items with keys `item-000000`, `item-000001`, ... (at least six digits), each
relevant (1) or not (0) independently with probability `relevant_share` (default 0.3). Besides
them, a pool of `ceil(n_items * unknown_pool_share)` further keys (default share 0.05), numbered
on from `n_items`, stands for items that are not (yet) imported: they have a relevance too (so a
test can import them later and check what attaches), and a share `unknown_key_share` (default
0.01) of the shown results are drawn from that pool instead of from the items. `truth` holds keys,
relevance and whether each key is an item.

Sessions and requests. `n_sessions` sessions (default 100,000), one search request each: a session
has a `session_id` (`sess-<n>`), a `user_id` (`user-<n>`, one of `n_users`, default a fifth of
the sessions, so users come back), a `request_id` (`req-<n>`), a query (`q-<n>`, one of `n_queries`,
default 1,000) and a device (mobile 55%, desktop 40%, tablet 5%), the last two in `properties`.
Sessions start as a Poisson process of `sessions_per_hour` (default 1,000) from `start`
(default 2026-01-05T00:00:00Z).

A noisy ranker. Each request draws `candidates` (default 2 x `list_length`) distinct items at
random and shows the `list_length` (default 10) best by the score
`ranker_signal * relevance + N(0, 1)` (default `ranker_signal` 1.0: a relevant item outranks a
non-relevant one with probability Phi(1/sqrt 2) = 0.76, the ranker's AUC). Each shown result is an
`impression` event with the request's `request_id` and its 1-based `position`, all at the
request's time.

Clicks: the position-based (examination) model. A result at position p is examined with
probability `p ** -eta` (default `eta` 1.0) and, if examined, clicked with probability
`click_relevant` (0.6) when relevant and `click_not_relevant` (0.1) when not, independently of the
other results: the examination hypothesis (Richardson, Dominowska & Ragno 2007, "Predicting
clicks: estimating the click-through rate for new ads", WWW), one of the models that Craswell,
Zoeter, Taylor & Ramsey 2008, "An experimental comparison of click position-bias models", WSDM,
compare with the cascade model. Joachims, Granka, Pan, Hembrooke & Gay 2005, "Accurately
interpreting clickthrough data as implicit feedback", SIGIR, measured this position bias with eye
tracking; Joachims, Swaminathan & Schnabel 2017, "Unbiased learning-to-rank with biased
feedback", WSDM, simulate it with the same propensities (1 / rank) ** eta. The click-through rate
at a position thus mixes examination and relevance; a position-debiased rate such as COEC (clicks
over expected clicks, Zhang & Jones 2007, "Comparing click logs and editorial labels for training
query rewriting", WWW workshop on query log analysis; see also the click models of Chapelle &
Zhang 2009, "A dynamic Bayesian network click model for web search ranking", WWW) divides the
first out. A click comes `click_delay_median_s` (4 s) x log-normal(0, 0.7) after the impression.

Dwell. Every click is followed by a `dwell` event whose `value` is the seconds spent, log-normal
with median `dwell_median_relevant` (45 s) or `dwell_median_not_relevant` (8 s) and log-sd
`dwell_sigma` (0.8), stamped when the user comes back (click time + dwell). With the defaults a
single dwell of at least 30 s happens for 69% of relevant clicks and 5% of the others.

Purchases (rare, delayed). A click leads to a `purchase` with probability `purchase_relevant`
(0.08) or `purchase_not_relevant` (0.005), `purchase_delay_median_h` (12 h) x log-normal(0,
`purchase_delay_sigma` 1.2) later (5%-95%: about 1.7 h to 3.6 days, so attribution windows
matter); `value` is the amount, log-normal around 30, two decimals.

Thumbs (rare, noisy). After a click's dwell, with probability `thumbs_rate` (0.03), a `thumbs`
event with `value` +1 for relevant and -1 for not, flipped with probability `thumbs_flip` (0.15).

Corrections (rare, slightly wrong). Any impression, with probability `correction_rate` (0.002),
gets a `correction` event minutes to hours later with a `label` "relevant" or "not_relevant",
wrong with probability `correction_error` (0.05).

Delivery noise. Events are written in delivery order. An event is delivered at its timestamp,
except that a share `late_share` (0.02) is delivered `late_median_min` (30 min) x
log-normal(0, 1) + 1 min later (so out of timestamp order), and a share `duplicate_share` (0.02)
is delivered a second time, identical (same `event_id`), `redelivery_median_s` (60 s) x
log-normal(0, 1) after the first delivery. A share `missing_id_share` (default 0) has no
`event_id` at all (an ingest must fingerprint them; every event is unique by event_type,
request_id and position, so a fingerprint of the fields is sound; a duplicate of such an event has
the same fields). In `lines()`, a share `malformed_share` (default 0) of extra lines are broken
copies of the line before them (a truncated JSON line, a missing item key or an unparseable
timestamp; in CSV a short row instead of bad JSON), with their 1-based line numbers and reasons in
`stats.malformed`.

Speed and memory (2 shared cores, Python 3.11, numpy 2.4; 100,000 items, 800,000 sessions,
10,088,321 events): JSONL 40 s (250,000 events/s, 2.5 GB), JSONL gzipped 89 s (113,000/s, 171 MB),
Segment gzipped 119 s (85,000/s), CSV gzipped 69 s (146,000/s); at most 80 MB resident in each.
The numpy stage alone runs at about 5 million events/s; the rest is making the text.

Event fields (JSONL): `event_id`, `event_type` (impression, click, dwell, purchase, thumbs,
correction), `item_key`, `timestamp` (ISO-8601 UTC with milliseconds and Z), `request_id`,
`position`, `user_id`, `session_id`, and as the type needs, `value` (dwell seconds, purchase
amount, thumbs +1/-1), `label` (corrections) and `properties` (query and device on impressions
and clicks, currency on purchases).

Other shapes, for the per-source mappings: `segment` writes Segment `track` calls
(`{"type": "track", "event": "Product Clicked", "messageId": ..., "timestamp": ..., "userId": ...,
"properties": {"product_id": ..., "request_id": ..., "position": ..., "session_id": ..., ...}}`,
the event names in SEGMENT_EVENTS); `csv` writes CSV_COLUMNS (id, kind, product, occurred_at with
"+00:00" and a space, search_id, rank, visitor, visit, amount, judgement, query, device).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

EVENT_TYPES = ("impression", "click", "dwell", "purchase", "thumbs", "correction")
IMPRESSION, CLICK, DWELL, PURCHASE, THUMBS, CORRECTION = range(len(EVENT_TYPES))
LABELS = ("not_relevant", "relevant")
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS = (0.55, 0.40, 0.05)
SEGMENT_EVENTS = {
    "impression": "Product Viewed",
    "click": "Product Clicked",
    "dwell": "Product Dwelled",
    "purchase": "Order Completed",
    "thumbs": "Product Rated",
    "correction": "Relevance Corrected",
}
CSV_COLUMNS = (
    "id",
    "kind",
    "product",
    "occurred_at",
    "search_id",
    "rank",
    "visitor",
    "visit",
    "amount",
    "judgement",
    "query",
    "device",
)
MALFORMED_REASONS = ("bad_json", "missing_item_key", "bad_timestamp")
FORMATS = ("jsonl", "segment", "csv")

_MS_PER_HOUR = 3_600_000
_NONE = -1


@dataclass(frozen=True)
class SimulatorConfig:
    """Every parameter of the model; the module docstring says what each one does."""

    n_items: int = 10_000
    n_sessions: int = 100_000
    seed: int = 0
    relevant_share: float = 0.3
    unknown_pool_share: float = 0.05
    unknown_key_share: float = 0.01
    n_users: int | None = None  # default: n_sessions // 5 (at least 1)
    n_queries: int = 1_000
    sessions_per_hour: float = 1_000.0
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    list_length: int = 10
    candidates: int | None = None  # default: 2 * list_length
    ranker_signal: float = 1.0
    eta: float = 1.0
    click_relevant: float = 0.6
    click_not_relevant: float = 0.1
    click_delay_median_s: float = 4.0
    dwell_median_relevant: float = 45.0
    dwell_median_not_relevant: float = 8.0
    dwell_sigma: float = 0.8
    purchase_relevant: float = 0.08
    purchase_not_relevant: float = 0.005
    purchase_delay_median_h: float = 12.0
    purchase_delay_sigma: float = 1.2
    thumbs_rate: float = 0.03
    thumbs_flip: float = 0.15
    correction_rate: float = 0.002
    correction_error: float = 0.05
    late_share: float = 0.02
    late_median_min: float = 30.0
    duplicate_share: float = 0.02
    redelivery_median_s: float = 60.0
    missing_id_share: float = 0.0
    malformed_share: float = 0.0
    batch_sessions: int = 2_000

    def __post_init__(self) -> None:
        if self.n_items < 1 or self.n_sessions < 0 or self.list_length < 1:
            raise ValueError("n_items and list_length must be positive, n_sessions not negative")
        if self.list_length > self.n_candidates or self.n_candidates > self.n_items:
            raise ValueError("need list_length <= candidates <= n_items")
        for name in (
            "relevant_share",
            "unknown_pool_share",
            "unknown_key_share",
            "click_relevant",
            "click_not_relevant",
            "purchase_relevant",
            "purchase_not_relevant",
            "thumbs_rate",
            "thumbs_flip",
            "correction_rate",
            "correction_error",
            "late_share",
            "duplicate_share",
            "missing_id_share",
            "malformed_share",
        ):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a probability, not {share}")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")

    @property
    def n_candidates(self) -> int:
        return self.candidates if self.candidates is not None else 2 * self.list_length

    @property
    def users(self) -> int:
        return self.n_users if self.n_users is not None else max(1, self.n_sessions // 5)

    @property
    def n_unknown(self) -> int:
        return math.ceil(self.n_items * self.unknown_pool_share)


@dataclass(frozen=True)
class GroundTruth:
    """The catalogue: `keys[i]` has `relevance[i]` (0/1); `is_item[i]` is False for the keys that
    are not items (the pool of unknown keys, after the items)."""

    keys: list[str]
    relevance: np.ndarray
    is_item: np.ndarray

    def relevance_of(self) -> dict[str, int]:
        return {key: int(rel) for key, rel in zip(self.keys, self.relevance, strict=True)}

    @property
    def item_keys(self) -> list[str]:
        return self.keys[: int(self.is_item.sum())]


@dataclass
class GenerationStats:
    """Counts over what `events()` or `lines()` produced so far (deliveries, not distinct
    events, unless the name says `distinct`)."""

    by_type: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
    deliveries: int = 0
    distinct_events: int = 0
    duplicates: int = 0
    late: int = 0
    missing_id: int = 0
    unknown_key: int = 0
    lines: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries,
            "distinct_events": self.distinct_events,
            "by_type": dict(self.by_type),
            "duplicates": self.duplicates,
            "late": self.late,
            "missing_id": self.missing_id,
            "unknown_key": self.unknown_key,
            "lines": self.lines,
            "malformed": len(self.malformed),
        }


def item_key(index: int, width: int) -> str:
    return f"item-{index:0{width}d}"


def examination(position: np.ndarray | int, eta: float = 1.0) -> np.ndarray:
    """P(examined | position) = position ** -eta (1-based positions)."""
    return np.asarray(position, dtype=np.float64) ** -eta


def _mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64's finaliser: a fixed pseudo-random function of (value, salt), vectorised."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


# A batch of events is a dict of numpy arrays of one length: etype (code), item (index into
# truth.keys), ts and deliver (ms since the epoch), request (= session), position, value (NaN if
# none), label (code or _NONE), serial (the event id's number), has_id, duplicate, late.
_DRAWN = ("etype", "item", "ts", "request", "position", "value", "label")


class FeedbackLogSimulator:
    """`FeedbackLogSimulator(config)` or `FeedbackLogSimulator(config, seed=2, ...)` or
    `FeedbackLogSimulator(n_items=..., ...)`: keyword arguments override the config's fields."""

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        self.config = replace(config or SimulatorConfig(), **overrides)
        self.stats = GenerationStats()
        self.key_width = max(6, len(str(self.config.n_items + self.config.n_unknown - 1)))
        self.truth = self._ground_truth()
        self._start_ms = int(self.config.start.timestamp() * 1000)

    # --- ground truth -------------------------------------------------------------------------

    def _ground_truth(self) -> GroundTruth:
        c = self.config
        rng = np.random.default_rng([c.seed, 0])
        total = c.n_items + c.n_unknown
        relevance = (rng.random(total) < c.relevant_share).astype(np.int8)
        is_item = np.arange(total) < c.n_items
        keys = [item_key(i, self.key_width) for i in range(total)]
        return GroundTruth(keys=keys, relevance=relevance, is_item=is_item)

    # --- the events, as numpy batches -------------------------------------------------------------

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        """Batches of events in delivery order; each batch holds what is due before the next
        batch's first session, the rest waits (flat memory: only pending events are kept)."""
        c = self.config
        rng = np.random.default_rng([c.seed, 1])
        pending: dict[str, np.ndarray] | None = None
        serial = 0
        clock_ms = float(self._start_ms)
        for first in range(0, c.n_sessions, c.batch_sessions):
            n = min(c.batch_sessions, c.n_sessions - first)
            gaps = rng.exponential(_MS_PER_HOUR / c.sessions_per_hour, size=n)
            starts = clock_ms + np.cumsum(gaps)
            clock_ms = float(starts[-1])
            batch = self._session_events(rng, np.arange(first, first + n), starts, serial)
            serial += batch["ts"].size
            batch = self._deliveries(rng, batch)
            if pending is not None:
                batch = {k: np.concatenate([pending[k], batch[k]]) for k in batch}
            order = np.lexsort((batch["serial"], batch["deliver"]))
            due = np.count_nonzero(batch["deliver"] <= clock_ms)
            due_idx, wait_idx = order[:due], order[due:]
            pending = {k: v[wait_idx] for k, v in batch.items()}
            yield {k: v[due_idx] for k, v in batch.items()}
        if pending is not None and pending["ts"].size:
            yield pending

    def _session_events(
        self, rng: np.random.Generator, sessions: np.ndarray, starts: np.ndarray, serial: int
    ) -> dict[str, np.ndarray]:
        c = self.config
        n, k, m = sessions.size, c.list_length, c.n_candidates
        relevance = self.truth.relevance
        # Candidates: m distinct items per request (a random draw, redrawn where it repeats).
        cand = rng.integers(0, c.n_items, size=(n, m))
        for _ in range(100):
            sorted_c = np.sort(cand, axis=1)
            repeats = (sorted_c[:, 1:] == sorted_c[:, :-1]).any(axis=1)
            if not repeats.any():
                break
            cand[repeats] = rng.integers(0, c.n_items, size=(int(repeats.sum()), m))
        else:  # a tiny catalogue: draw permutations instead
            cand = np.argsort(rng.random((n, c.n_items)), axis=1)[:, :m]
        score = c.ranker_signal * relevance[cand] + rng.standard_normal((n, m))
        top = np.argsort(-score, axis=1, kind="stable")[:, :k]
        shown = np.take_along_axis(cand, top, axis=1)
        unknown = rng.random((n, k)) < c.unknown_key_share
        if c.n_unknown:
            shown[unknown] = c.n_items + rng.integers(0, c.n_unknown, size=int(unknown.sum()))
        rel = relevance[shown].astype(bool)
        positions = np.broadcast_to(np.arange(1, k + 1), (n, k))
        # Impressions.
        imp_item = shown.ravel()
        imp_rel = rel.ravel()
        imp_req = np.repeat(sessions, k)
        imp_pos = positions.ravel()
        imp_ts = np.repeat(starts, k)
        # Clicks: examined (position ** -eta) and attracted (by relevance).
        examined = rng.random(imp_item.size) < examination(imp_pos, c.eta)
        attracted = rng.random(imp_item.size) < np.where(
            imp_rel, c.click_relevant, c.click_not_relevant
        )
        clicked = np.flatnonzero(examined & attracted)
        ck_rel = imp_rel[clicked]
        ck_ts = imp_ts[clicked] + 1000 * c.click_delay_median_s * rng.lognormal(
            0, 0.7, clicked.size
        )
        dwell = np.round(
            np.where(ck_rel, c.dwell_median_relevant, c.dwell_median_not_relevant)
            * rng.lognormal(0, c.dwell_sigma, clicked.size),
            1,
        )
        back_ts = ck_ts + 1000 * dwell
        buys = rng.random(clicked.size) < np.where(
            ck_rel, c.purchase_relevant, c.purchase_not_relevant
        )
        buy_delay = (
            c.purchase_delay_median_h
            * _MS_PER_HOUR
            * rng.lognormal(0, c.purchase_delay_sigma, int(buys.sum()))
        )
        amount = np.round(30.0 * rng.lognormal(0, 0.6, int(buys.sum())), 2)
        thumbs = rng.random(clicked.size) < c.thumbs_rate
        flip = rng.random(int(thumbs.sum())) < c.thumbs_flip
        thumb_value = np.where(ck_rel[thumbs] ^ flip, 1.0, -1.0)
        thumb_ts = back_ts[thumbs] + 1000 * rng.exponential(5.0, int(thumbs.sum()))
        corrected = np.flatnonzero(rng.random(imp_item.size) < c.correction_rate)
        wrong = rng.random(corrected.size) < c.correction_error
        corr_label = (imp_rel[corrected] ^ wrong).astype(np.int8)
        corr_ts = imp_ts[corrected] + 60_000 * rng.lognormal(3.0, 1.0, corrected.size)

        parts = [
            (IMPRESSION, np.arange(imp_item.size), imp_ts, None, None),
            (CLICK, clicked, ck_ts, None, None),
            (DWELL, clicked, back_ts, dwell, None),
            (PURCHASE, clicked[buys], ck_ts[buys] + buy_delay, amount, None),
            (THUMBS, clicked[thumbs], thumb_ts, thumb_value, None),
            (CORRECTION, corrected, corr_ts, None, corr_label),
        ]
        columns: dict[str, list[np.ndarray]] = {name: [] for name in _DRAWN}
        for etype, idx, ts, value, label in parts:
            size = idx.size
            columns["etype"].append(np.full(size, etype, dtype=np.int8))
            columns["item"].append(imp_item[idx])
            columns["ts"].append(np.asarray(ts).astype(np.int64))
            columns["request"].append(imp_req[idx])
            columns["position"].append(imp_pos[idx].astype(np.int16))
            columns["value"].append(
                np.full(size, np.nan) if value is None else np.asarray(value, dtype=np.float64)
            )
            columns["label"].append(np.full(size, _NONE, dtype=np.int8) if label is None else label)
        batch = {name: np.concatenate(parts_) for name, parts_ in columns.items()}
        # Serial numbers in timestamp order within the batch, so event ids read naturally.
        order = np.argsort(batch["ts"], kind="stable")
        batch = {name: array[order] for name, array in batch.items()}
        batch["serial"] = serial + np.arange(batch["ts"].size, dtype=np.int64)
        batch["deliver"] = batch["ts"].copy()
        return batch

    def _deliveries(
        self, rng: np.random.Generator, batch: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Late deliveries, missing ids and repeated deliveries (the copy keeps the original's
        fields and its id, or its lack of one)."""
        c = self.config
        size = batch["ts"].size
        late = rng.random(size) < c.late_share
        batch["deliver"][late] += (
            60_000 * (1 + c.late_median_min * rng.lognormal(0, 1, int(late.sum())))
        ).astype(np.int64)
        batch["has_id"] = rng.random(size) >= c.missing_id_share
        batch["late"] = late
        batch["duplicate"] = np.zeros(size, dtype=bool)
        repeated = np.flatnonzero(rng.random(size) < c.duplicate_share)
        copies = {name: array[repeated] for name, array in batch.items()}
        copies["deliver"] = copies["deliver"] + (
            1000 * c.redelivery_median_s * rng.lognormal(0, 1, repeated.size)
        ).astype(np.int64)
        copies["duplicate"] = np.ones(repeated.size, dtype=bool)
        copies["late"] = np.zeros(repeated.size, dtype=bool)
        return {name: np.concatenate([batch[name], copies[name]]) for name in batch}

    # --- events as dicts ------------------------------------------------------------------------

    def events(self) -> Iterator[dict[str, Any]]:
        """The events as dicts, in delivery order (duplicates, late deliveries and missing ids
        included; no malformed ones: those exist only as lines). `stats` counts this stream."""
        self.stats = GenerationStats()
        for batch in self._batches():
            yield from self._batch_dicts(batch)

    def _batch_rows(self, batch: dict[str, np.ndarray]) -> Iterator[tuple[Any, ...]]:
        """Counts the batch into `stats` and yields each event's fields as plain Python values:
        (type code, item key, timestamp, request, position, value or None, label code, event id
        or None, user, query, device code)."""
        c = self.config
        stats = self.stats
        size = batch["ts"].size
        is_item = self.truth.is_item
        stats.deliveries += size
        stats.duplicates += int(batch["duplicate"].sum())
        stats.distinct_events += size - int(batch["duplicate"].sum())
        stats.late += int(batch["late"].sum())
        stats.missing_id += int((~batch["has_id"] & ~batch["duplicate"]).sum())
        stats.unknown_key += int((~is_item[batch["item"]]).sum())
        for code, count in zip(*np.unique(batch["etype"], return_counts=True), strict=True):
            stats.by_type[EVENT_TYPES[code]] += int(count)

        stamps = np.datetime_as_string(batch["ts"].astype("datetime64[ms]"), unit="ms") + "Z"
        request = batch["request"]
        users = (_mix64(request, c.seed * 3 + 1) % np.uint64(c.users)).tolist()
        queries = (_mix64(request, c.seed * 3 + 2) % np.uint64(c.n_queries)).tolist()
        device_draw = (_mix64(request, c.seed * 3 + 3) >> np.uint64(11)).astype(np.float64) / 2**53
        devices = np.searchsorted(np.cumsum(DEVICE_WEIGHTS), device_draw, side="right").tolist()
        value = batch["value"]
        has_value = ~np.isnan(value)
        keys = self.truth.keys
        prefix = f"ev-{c.seed}-"
        etypes = batch["etype"].tolist()
        values: list[Any] = [
            None if not present else int(v) if etype == THUMBS else v
            for v, present, etype in zip(
                np.where(has_value, value, 0.0).tolist(), has_value.tolist(), etypes, strict=True
            )
        ]
        ids = [
            f"{prefix}{serial}" if has_id else None
            for serial, has_id in zip(
                batch["serial"].tolist(), batch["has_id"].tolist(), strict=True
            )
        ]
        yield from zip(
            etypes,
            [keys[item] for item in batch["item"].tolist()],
            stamps.tolist(),
            request.tolist(),
            batch["position"].tolist(),
            values,
            batch["label"].tolist(),
            ids,
            users,
            queries,
            devices,
            strict=True,
        )

    def _batch_dicts(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, Any]]:
        for etype, key, stamp, req, pos, val, label, event_id, user, q, dev in self._batch_rows(
            batch
        ):
            event: dict[str, Any] = {}
            if event_id is not None:
                event["event_id"] = event_id
            event["event_type"] = EVENT_TYPES[etype]
            event["item_key"] = key
            event["timestamp"] = stamp
            event["request_id"] = f"req-{req}"
            event["position"] = pos
            event["user_id"] = f"user-{user}"
            event["session_id"] = f"sess-{req}"
            if val is not None:
                event["value"] = val
            if label != _NONE:
                event["label"] = LABELS[label]
            if etype <= CLICK:
                event["properties"] = {"query": f"q-{q}", "device": DEVICES[dev]}
            elif etype == PURCHASE:
                event["properties"] = {"currency": "EUR"}
            yield event

    def _batch_jsonl(self, batch: dict[str, np.ndarray]) -> Iterator[str]:
        """The same events as `_batch_dicts`, serialised by hand three times faster than
        json.dumps would (every string here is plain ASCII, and json writes floats as repr
        does); a test holds the two to the same text."""
        tails = {
            IMPRESSION: ',"properties":{"query":"q-%d","device":"%s"}}',
            CLICK: ',"properties":{"query":"q-%d","device":"%s"}}',
            PURCHASE: ',"properties":{"currency":"EUR"}}',
        }
        for etype, key, stamp, req, pos, val, label, event_id, user, q, dev in self._batch_rows(
            batch
        ):
            head = f'{{"event_id":"{event_id}",' if event_id is not None else "{"
            line = (
                f'{head}"event_type":"{EVENT_TYPES[etype]}","item_key":"{key}",'
                f'"timestamp":"{stamp}","request_id":"req-{req}","position":{pos},'
                f'"user_id":"user-{user}","session_id":"sess-{req}"'
            )
            if val is not None:
                line += f',"value":{val!r}'
            if label != _NONE:
                line += f',"label":"{LABELS[label]}"'
            tail = tails.get(etype, "}")
            yield line + (tail % (q, DEVICES[dev]) if etype <= CLICK else tail)

    # --- lines ------------------------------------------------------------------------------------

    def lines(self, fmt: str = "jsonl") -> Iterator[str]:
        """The events as text lines without their newline: JSONL, Segment `track` JSONL, or CSV
        (the header first), with `malformed_share` broken extra lines among them. `stats` counts
        this stream."""
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        self.stats = GenerationStats()
        c = self.config
        rng = np.random.default_rng([c.seed, 2])
        dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        stats = self.stats
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="")

        def csv_line(row: list[Any]) -> str:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(row)
            return buffer.getvalue()

        if fmt == "csv":
            stats.lines += 1
            yield csv_line(list(CSV_COLUMNS))
        for batch in self._batches():
            size = batch["ts"].size
            bad = rng.random(size) < c.malformed_share
            reasons = rng.integers(0, len(MALFORMED_REASONS), size=size).tolist()
            marks = zip(bad.tolist(), reasons, strict=True)
            if fmt == "jsonl":
                for line, (is_bad, reason) in zip(self._batch_jsonl(batch), marks, strict=True):
                    stats.lines += 1
                    yield line
                    if is_bad:
                        yield self._malformed_line(json.loads(line), reason, fmt, dumps, csv_line)
                continue
            for event, (is_bad, reason) in zip(self._batch_dicts(batch), marks, strict=True):
                stats.lines += 1
                yield dumps(to_segment(event)) if fmt == "segment" else csv_line(to_csv_row(event))
                if is_bad:
                    yield self._malformed_line(event, reason, fmt, dumps, csv_line)

    def _malformed_line(
        self,
        event: dict[str, Any],
        reason: int,
        fmt: str,
        dumps: Callable[[Any], str],
        csv_line: Callable[[list[Any]], str],
    ) -> str:
        self.stats.lines += 1
        self.stats.malformed.append((self.stats.lines, MALFORMED_REASONS[reason]))
        return _malformed(event, MALFORMED_REASONS[reason], fmt, dumps, csv_line)

    def write(self, path: str | Path, fmt: str = "jsonl") -> GenerationStats:
        """Write `lines(fmt)` to `path` (gzip when it ends in .gz); returns the stats."""
        with open_text(path, "w") as out:
            batch: list[str] = []
            for line in self.lines(fmt):
                batch.append(line)
                if len(batch) >= 10_000:
                    out.write("\n".join(batch) + "\n")
                    batch.clear()
            if batch:
                out.write("\n".join(batch) + "\n")
        return self.stats

    def write_truth(self, path: str | Path) -> None:
        """key,relevant,is_item for every key, items first."""
        with open_text(path, "w") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["key", "relevant", "is_item"])
            for key, rel, known in zip(
                self.truth.keys,
                self.truth.relevance.tolist(),
                self.truth.is_item.tolist(),
                strict=True,
            ):
                writer.writerow([key, rel, int(known)])

    def write_items(self, path: str | Path) -> None:
        """An items file Accord's import reads (key,text): the items only, not the unknown keys
        (`truth.keys[n_items:]`, for a test that imports them later)."""
        with open_text(path, "w") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["key", "text"])
            for key in self.truth.item_keys:
                writer.writerow([key, f"Product {key}"])


def to_segment(event: dict[str, Any]) -> dict[str, Any]:
    """The event as a Segment `track` call (https://segment.com/docs/connections/spec/track/)."""
    properties: dict[str, Any] = {
        "product_id": event["item_key"],
        "request_id": event.get("request_id"),
        "position": event.get("position"),
        "session_id": event.get("session_id"),
    }
    if "value" in event:
        properties["value"] = event["value"]
    if "label" in event:
        properties["label"] = event["label"]
    properties.update(event.get("properties", {}))
    track: dict[str, Any] = {"type": "track", "event": SEGMENT_EVENTS[event["event_type"]]}
    if "event_id" in event:
        track["messageId"] = event["event_id"]
    track["timestamp"] = event["timestamp"]
    track["userId"] = event.get("user_id")
    track["properties"] = properties
    return track


def to_csv_row(event: dict[str, Any]) -> list[Any]:
    """The event as a row of CSV_COLUMNS."""
    properties = event.get("properties", {})
    return [
        event.get("event_id", ""),
        event["event_type"],
        event["item_key"],
        event["timestamp"].replace("T", " ").replace("Z", "+00:00"),
        event.get("request_id", ""),
        event.get("position", ""),
        event.get("user_id", ""),
        event.get("session_id", ""),
        event.get("value", ""),
        event.get("label", ""),
        properties.get("query", ""),
        properties.get("device", ""),
    ]


def _malformed(
    event: dict[str, Any],
    reason: str,
    fmt: str,
    dumps: Callable[[Any], str],
    csv_line: Callable[[list[Any]], str],
) -> str:
    """A broken copy of `event`'s line (with `-bad` appended to its id, if any)."""
    broken = dict(event)
    if "event_id" in broken:
        broken["event_id"] += "-bad"
    if reason == "bad_timestamp":
        broken["timestamp"] = "2026-13-45T25:61:00Z"
    if fmt == "csv":
        row = to_csv_row(broken)
        if reason == "missing_item_key":
            row[CSV_COLUMNS.index("product")] = ""
        return csv_line(row[:5] if reason == "bad_json" else row)
    shaped = to_segment(broken) if fmt == "segment" else broken
    if reason == "missing_item_key":
        if fmt == "segment":
            del shaped["properties"]["product_id"]
        else:
            del shaped["item_key"]
    text = dumps(shaped)
    return text[: len(text) // 2] if reason == "bad_json" else text


def open_text(path: str | Path, mode: str) -> IO[str]:
    """A text file, gzip-compressed (level 6) when its name ends in .gz."""
    if str(path).endswith(".gz"):
        binary = gzip.GzipFile(path, mode + "b", compresslevel=6)
        return io.TextIOWrapper(binary, encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000, help="number of items")
    parser.add_argument("--sessions", type=int, default=100_000, help="number of sessions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="FILE.jsonl, .csv, with .gz to compress")
    parser.add_argument("--format", choices=FORMATS, default=None)
    parser.add_argument("--csv", action="store_true", help="the same as --format csv")
    parser.add_argument("--truth-out", help="write key,relevant,is_item here")
    parser.add_argument("--items-out", help="write the items as key,text (for an import) here")
    for name in (
        "relevant_share",
        "unknown_key_share",
        "duplicate_share",
        "late_share",
        "missing_id_share",
        "malformed_share",
        "eta",
    ):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=None)
    parser.add_argument("--list-length", type=int, default=None)
    args = parser.parse_args(argv)
    fmt = args.format or ("csv" if args.csv or ".csv" in args.out else "jsonl")
    overrides = {
        name: getattr(args, name)
        for name in (
            "relevant_share",
            "unknown_key_share",
            "duplicate_share",
            "late_share",
            "missing_id_share",
            "malformed_share",
            "eta",
            "list_length",
        )
        if getattr(args, name) is not None
    }
    config = SimulatorConfig(
        n_items=args.items, n_sessions=args.sessions, seed=args.seed, **overrides
    )
    simulator = FeedbackLogSimulator(config)
    began = time.perf_counter()
    stats = simulator.write(args.out, fmt)
    seconds = time.perf_counter() - began
    if args.truth_out:
        simulator.write_truth(args.truth_out)
    if args.items_out:
        simulator.write_items(args.items_out)
    summary = {
        **stats.as_dict(),
        "format": fmt,
        "seconds": round(seconds, 2),
        "events_per_s": round(stats.deliveries / seconds) if seconds else None,
    }
    print(json.dumps(summary, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
