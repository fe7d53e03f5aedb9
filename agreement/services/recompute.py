"""A full recompute of a project's agreement, as a job row run by Celery (or in-process by
`manage.py agreement_recompute`, with a progress bar).

1. Read the items' change counters, then every annotation, into arrays (agreement.services.
   arrays); in that order, so that a label that arrives meanwhile moves a counter read before it.
2. Fit the project's label model over all items at once and apply its rule (agreement.decisions).
3. Write back only the items whose outcome differs from what is stored, in batches under the
   items' row locks: an item whose counter moved since step 1 was re-evaluated live by the
   change that moved it, and is left alone. So a recompute is safe while raters label, and
   running it twice changes nothing the second time.
4. Compute the project's figures and the raters' scorecards (agreement.services.figures), and
   keep the fitted label model for the live evaluation of later labels.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agreement.aggregation.majority import vote_counts
from agreement.decisions import Decisions, decide, decide_multi
from agreement.models import AgreementRecompute
from agreement.rules import MULTI_SEPARATOR, Outcome, Vote
from agreement.services.arrays import ProjectAnnotations, project_annotations, stream
from agreement.services.bulk import CHUNK as BULK_CHUNK
from agreement.services.bulk import Texts, copy_data, plain_items, plain_items_write
from agreement.services.evaluation import item_states, outcomes_apply
from agreement.services.figures import figures_compute, figures_save
from agreement.services.models import LabelModel, label_model_fit
from core.jobs.models import JobStatus
from core.jobs.services import (
    JobProgress,
    ProgressCallback,
    job_enqueue_on_commit,
    job_is_stalled,
    job_retry,
    job_run,
)
from labeling.models import Annotation
from projects.changes import SettingsChanged
from projects.models import Item, LabelKind, Project
from projects.services.archive import project_ensure_writable

if TYPE_CHECKING:
    from django.contrib.auth.models import User


PHASE_READING = "reading annotations"
PHASE_MODEL = "fitting the label model"
PHASE_WRITING = "writing changed items"
PHASE_FIGURES = "computing figures"
WRITE_BATCH = 1000


def agreement_recompute_request(
    *, project: Project, requested_by: User | None, enqueue: bool = True
) -> AgreementRecompute:
    """A recompute of the project: a new job, enqueued once the transaction commits; or the one
    already pending or running (one live recompute per project), queued again if it stalled."""
    project_ensure_writable(project=project)
    live = AgreementRecompute.objects.filter(
        project=project, status__in=(JobStatus.PENDING, JobStatus.RUNNING)
    ).first()
    if live is not None:
        return job_retry(live, enqueue=_enqueue_run) if job_is_stalled(live) else live
    try:
        with transaction.atomic():
            job = AgreementRecompute.objects.create(project=project, requested_by=requested_by)
    except IntegrityError:
        # Another request created the live one between our look and our insert.
        return AgreementRecompute.objects.get(
            project=project, status__in=(JobStatus.PENDING, JobStatus.RUNNING)
        )
    if enqueue:
        job_enqueue_on_commit(job, _enqueue_run)
    return job


RULE_SETTINGS = frozenset({"agreement_rule", "agreement_threshold", "raters_per_item"})


def settings_changed_handle(change: SettingsChanged) -> None:
    """The listener `agreement.apps` registers with projects: a new rule, threshold or k
    decides the items anew, so a project with annotations gets a recompute (on commit)."""
    if change.names & RULE_SETTINGS and Annotation.objects.filter(project=change.project).exists():
        agreement_recompute_request(project=change.project, requested_by=None)


def agreement_recompute_retry(*, job: AgreementRecompute) -> AgreementRecompute:
    """Queue a failed (or stalled) recompute again; it redoes only what is still out of date."""
    project_ensure_writable(project=job.project)
    return job_retry(job, enqueue=_enqueue_run)


def _enqueue_run(job_id: int) -> None:
    from agreement.tasks import agreement_recompute_task  # the task module imports this one

    agreement_recompute_task.delay(job_id)


def agreement_recompute_run(
    *, job_id: int, progress: ProgressCallback | None = None
) -> AgreementRecompute:
    """Run the recompute (the module says how). Safe to call again, even concurrently: a
    finished job is returned as it is, and a running one under a live worker is left to it.
    An unexpected exception marks the job failed and propagates."""
    return job_run(
        AgreementRecompute, job_id=job_id, run=_run, progress=progress,
        reset={"items_changed": 0},
        on_error="Items it had already brought up to date stay so; retry it.",
    )  # fmt: skip


@dataclass(frozen=True)
class ItemCounters:
    """The project's items as arrays, read before the annotations."""

    ids: np.ndarray
    change_count: np.ndarray
    all_in: np.ndarray


def _item_counters(project: Project) -> ItemCounters:
    array = stream(
        ["i.id", "i.change_count",
         "CASE WHEN i.annotation_count >= %s + i.extra_slots THEN 1 ELSE 0 END"],
        "projects_item i WHERE i.project_id = %s", "i.id",
        [project.raters_per_item, project.pk],
    ).astype(np.int64)  # fmt: skip
    return ItemCounters(ids=array[:, 0], change_count=array[:, 1], all_in=array[:, 2] == 1)


def _run(job: AgreementRecompute, progress: JobProgress) -> None:
    project = job.project
    started = timezone.now()
    progress.phase(PHASE_READING, total=None)
    counters = _item_counters(project)
    annotations = project_annotations(project)
    progress.phase(PHASE_READING, total=len(annotations.ids), done=len(annotations.ids))
    progress.phase(PHASE_MODEL, total=None)
    model = label_model_fit(project, annotations)
    decisions = _decisions(project, annotations, model)
    changed = _changed(project, annotations, decisions, model.method, counters)
    progress.phase(PHASE_WRITING, total=len(changed))
    written = _write(project, annotations, decisions, model, counters, changed, started, progress)
    progress.finish()
    progress.phase(PHASE_FIGURES, total=None)
    figures = figures_compute(project, annotations, decisions, model)
    figures_save(project=project, job=job, figures=figures, model=model, now=timezone.now())
    AgreementRecompute.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, phase="done", finished_at=timezone.now(), items_changed=written,
        message=f"{len(annotations.item_ids):,} items and {len(annotations.ids):,} annotations "
        f"computed; {written:,} items changed.",
    )  # fmt: skip


def _decisions(project: Project, annotations: ProjectAnnotations, model: LabelModel) -> Decisions:
    n_items = len(annotations.item_ids)
    rule, threshold = project.agreement_rule, project.agreement_threshold
    if annotations.kind == LabelKind.MULTI:
        return decide_multi(
            annotations.item, annotations.code, n_items, annotations.n_categories, rule=rule,
            threshold=threshold,
        )  # fmt: skip
    counts = vote_counts(
        annotations.item, annotations.code, n_items=n_items, q=annotations.n_categories
    )
    text_rank = np.argsort(np.argsort([str(v) for v in annotations.values], kind="stable"))
    return decide(model.shares, counts, rule=rule, threshold=threshold, text_rank=text_rank)


def _changed(
    project: Project, annotations: ProjectAnnotations, decisions: Decisions, method: str,
    counters: ItemCounters,
) -> np.ndarray:  # fmt: skip
    """Indexes (into annotations.item_ids) of the items with all their labels in whose stored
    outcome differs from the computed one (or that have none), compared as arrays."""
    n_items = len(annotations.item_ids)
    all_in = counters.all_in[np.searchsorted(counters.ids, annotations.item_ids)]
    n = np.bincount(annotations.item, minlength=n_items)
    same = np.zeros(n_items, dtype=bool)
    code_of = _code_lookup(annotations)
    # The consensus as the database extracts it from JSON: a label's text, a rating's number,
    # a multi-label list as JSON text (no JSON decoding per row for the first two).
    scalar = (
        "consensus #>> '{}'"
        if connection.vendor == "postgresql"
        else ("json_extract(consensus, '$')")
    )
    batch: list[tuple[Any, ...]] = []
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT item_id, {scalar}, passes, tie, method, confidence, observed, n_annotations"
            " FROM agreement_itemagreement WHERE project_id = %s",
            [project.pk],
        )
        while batch := cursor.fetchmany(20_000):
            _mark_same(batch, annotations, decisions, method, n, code_of, same)
    return np.flatnonzero(all_in & ~same)


def _code_lookup(annotations: ProjectAnnotations) -> dict[Any, int]:
    """A stored consensus, as `_changed` reads it, to its code: a label's value, or a multi-label
    list's labels, by label; a rating by its text."""
    return {str(value): code for code, value in enumerate(annotations.values)}


def _stored_code(consensus: Any, annotations: ProjectAnnotations, code_of: dict[Any, int]) -> int:
    """-1 for no consensus; -2 for a value the schema does not know (so: changed)."""
    if consensus is None:
        return -1
    if annotations.kind == LabelKind.MULTI:
        labels = json.loads(consensus)
        if any(str(label) not in code_of for label in labels):
            return -2
        return sum(1 << code_of[str(label)] for label in labels)
    if annotations.kind == LabelKind.RATING:
        return code_of.get(str(int(float(consensus))), -2)
    return code_of.get(consensus, -2)


def _mark_same(
    rows: list[tuple[Any, ...]], annotations: ProjectAnnotations, decisions: Decisions,
    method: str, n: np.ndarray, code_of: dict[Any, int], same: np.ndarray,
) -> None:  # fmt: skip
    if not rows:
        return
    item_ids = np.asarray([row[0] for row in rows], dtype=np.int64)
    index = np.searchsorted(annotations.item_ids, item_ids)
    index = np.clip(index, 0, max(len(annotations.item_ids) - 1, 0))
    found = annotations.item_ids[index] == item_ids if len(annotations.item_ids) else index < 0
    consensus = np.asarray([_stored_code(row[1], annotations, code_of) for row in rows])
    passes = np.asarray([row[2] for row in rows], dtype=bool)
    tie = np.asarray([row[3] for row in rows], dtype=bool)
    methods = np.asarray([row[4] == method for row in rows], dtype=bool)
    confidence = np.asarray([np.nan if row[5] is None else row[5] for row in rows], dtype=float)
    observed = np.asarray([np.nan if row[6] is None else row[6] for row in rows], dtype=float)
    count = np.asarray([row[7] for row in rows], dtype=np.int64)
    equal = (
        found
        & (consensus == decisions.consensus[index])
        & (passes == decisions.passes[index])
        & (tie == decisions.tie[index])
        & methods
        & np.isclose(confidence, decisions.confidence[index], rtol=1e-9, atol=1e-12, equal_nan=True)
        & np.isclose(observed, decisions.observed[index], rtol=1e-9, atol=1e-12, equal_nan=True)
        & (count == n[index])
    )
    same[index[equal]] = True


def _outcome(
    annotations: ProjectAnnotations, decisions: Decisions, method: str, index: int
) -> Outcome:
    code = int(decisions.consensus[index])
    confidence = float(decisions.confidence[index])
    observed = float(decisions.observed[index])
    if annotations.kind == LabelKind.MULTI:
        tied = annotations.value_of(int(decisions.pair[index]))
        assert isinstance(tied, frozenset)
        pair = MULTI_SEPARATOR.join(sorted(str(label) for label in tied))
        method = "majority"
    else:
        codes = [int(c) for c in decisions.pair[index] if c >= 0]
        pair = MULTI_SEPARATOR.join(sorted(str(annotations.values[c]) for c in codes))
        pair = pair if len(codes) == 2 else ""
    values = [annotations.value_of(int(c)) for c in annotations.code[annotations.rows_of(index)]]
    tally: Counter[Hashable] = Counter()
    for value in values:  # per label for multi-label, as agreement.rules counts
        tally.update(value if isinstance(value, frozenset) else [value])
    shares: dict[Hashable, float] = {value: c / len(values) for value, c in tally.items()}
    return Outcome(
        consensus=None if code < 0 else annotations.value_of(code),
        confidence=None if math.isnan(confidence) else confidence,
        observed=None if math.isnan(observed) else observed,
        tie=bool(decisions.tie[index]), passes=bool(decisions.passes[index]), method=method,
        label_pair=pair[:300], shares=shares,
    )  # fmt: skip


def _write(
    project: Project, annotations: ProjectAnnotations, decisions: Decisions, model: LabelModel,
    counters: ItemCounters, changed: np.ndarray, now: datetime, progress: JobProgress,
) -> int:  # fmt: skip
    """Write the changed items' outcomes: the plain ones as set operations on PostgreSQL
    (agreement.services.bulk), the rest (and all of them elsewhere) item by item."""
    written = done = 0
    rest = changed
    if connection.vendor == "postgresql":
        plain = plain_items(project, changed, annotations.item_ids)
        rest = np.setdiff1d(changed, plain, assume_unique=True)
        method = "majority" if annotations.kind == LabelKind.MULTI else model.method
        texts = Texts(annotations)

        def data_of(chunk: np.ndarray) -> bytes:
            seen = counters.change_count[np.searchsorted(counters.ids, annotations.item_ids[chunk])]
            return copy_data(
                annotations=annotations, decisions=decisions, seen=seen, chunk=chunk,
                texts=texts,
                outcome_of=lambda index: _outcome(annotations, decisions, model.method, index),
            )  # fmt: skip

        # The next chunk's rows are made in a thread while the database writes this one's.
        chunks = [plain[start : start + BULK_CHUNK] for start in range(0, len(plain), BULK_CHUNK)]
        with ThreadPoolExecutor(max_workers=1) as maker:
            upcoming = maker.submit(data_of, chunks[0]) if chunks else None
            for n, chunk in enumerate(chunks):
                assert upcoming is not None
                data = upcoming.result()
                upcoming = maker.submit(data_of, chunks[n + 1]) if n + 1 < len(chunks) else None
                written += plain_items_write(project=project, method=method, data=data, now=now)
                done += len(chunk)
                progress.advance(done)
    for batch_done, batch in _batches(rest):
        written += _write_batch(project, annotations, decisions, model, counters, batch, now)
        progress.advance(done + batch_done)
    return written


def _batches(changed: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(changed), WRITE_BATCH):
        batch = changed[start : start + WRITE_BATCH]
        yield start + len(batch), batch


def _write_batch(
    project: Project, annotations: ProjectAnnotations, decisions: Decisions, model: LabelModel,
    counters: ItemCounters, batch: np.ndarray, now: datetime,
) -> int:  # fmt: skip
    """Apply the outcomes of a batch of items, under their row locks; items whose change
    counter moved since it was read are left to the live evaluation. Returns how many were
    written."""
    item_ids = [int(annotations.item_ids[index]) for index in batch]
    seen = dict(
        zip(
            item_ids,
            counters.change_count[np.searchsorted(counters.ids, item_ids)].tolist(),
            strict=True,
        )
    )
    with transaction.atomic():
        list(
            Item.objects.select_for_update()
            .filter(pk__in=item_ids)
            .order_by("pk")
            .values_list("pk")
        )
        states = [state for state in item_states(item_ids) if state.change_count == seen[state.id]]
        if not states:
            return 0
        index_of = dict(zip(item_ids, batch.tolist(), strict=True))
        outcomes: dict[int, Outcome] = {}
        votes: dict[int, list[Vote]] = {}
        for state in states:
            index = index_of[state.id]
            outcomes[state.id] = _outcome(annotations, decisions, model.method, index)
            rows = annotations.rows_of(index)
            votes[state.id] = [
                Vote(
                    int(annotations.ids[row]),
                    int(annotations.rater_ids[annotations.rater[row]]),
                    int(annotations.revision[row]),
                    annotations.value_of(int(annotations.code[row])),
                )
                for row in rows
            ]
        outcomes_apply(
            project=project, states=states, votes=votes, outcomes=outcomes, reason="recompute",
            actor_id=None, now=now,
        )  # fmt: skip
    return len(states)
