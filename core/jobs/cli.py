"""The progress bar of a management command that runs a job in-process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from core.jobs.services import ProgressCallback


@contextmanager
def progress_bar(unit: str = " rows") -> Iterator[ProgressCallback]:
    """A callback for `JobProgress` that draws a bar on stderr (only on a terminal), starting
    afresh at each phase of the job."""
    with tqdm(unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True) as bar:

        def progress(done: int, total: int | None) -> None:
            if total != bar.total or done < bar.n:  # a new phase
                bar.reset(total=total)
            bar.update(done - bar.n)

        yield progress
