"""Two threads beside a build's own, so that its three kinds of work overlap: the database
computing the next batch while Python hashes this one (`Prefetch`), and pyarrow compressing
and writing the previous one with the GIL released (`Background`). Each hands its results on
through a small queue, so that at most a batch or two wait in memory, and re-raises its error
in the build's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from django.db import connections

T = TypeVar("T")
_DONE = object()


class Prefetch(Generic[T]):
    """Iterates `make()` in a thread of its own, up to `depth` items ahead of the consumer.

    The thread has its own database connection (Django's are per thread), closed when it ends:
    use it only where the consumer's transaction holds nothing the thread must see (not inside
    an atomic block)."""

    def __init__(self, make: Callable[[], Iterator[T]], *, depth: int = 1) -> None:
        self.items: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(make,), daemon=True)
        self.thread.start()

    def _run(self, make: Callable[[], Iterator[T]]) -> None:
        try:
            for item in make():
                if not self._put(item):
                    return
            self._put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            self._put(error)
        finally:
            connections.close_all()

    def _put(self, item: Any) -> bool:
        while not self.stopping.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        try:
            while (item := self.items.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()


class Background:
    """Runs the calls given to `submit`, in order, in one thread; at most `depth` wait. An
    error in a call is raised by the next `submit` or by `join`, and later calls are skipped."""

    def __init__(self, *, depth: int = 2) -> None:
        self.calls: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (call := self.calls.get()) is not _DONE:
            if self.error is None:
                try:
                    call()
                except BaseException as error:
                    self.error = error

    def submit(self, call: Callable[[], Any]) -> None:
        self._raise()
        self.calls.put(call)

    def join(self) -> None:
        """Wait for every call; raise the first error."""
        if self.thread.is_alive():
            self.calls.put(_DONE)
            self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
