"""Group calls: many threads ask for one kind of database work, one of them does it for all who are waiting.

The bulk runner's threads each need a job to work on and, later, a transaction that records their result. Done
one by one, sixteen threads pay sixteen claims and sixteen commits (each with its fsync on PostgreSQL, each a turn
at SQLite's single writer). With a group call the first thread to arrive leads: it takes every request queued so
far and runs them as one batch (one claim of N jobs, one transaction of N results); the threads that arrive
meanwhile wait and form the next batch. No timer and no extra thread: a lone caller runs at once with a batch of
one, and the batches grow by themselves exactly when the calls contend.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Batch = list[tuple[T, Future[R]]]


class GroupCall(Generic[T, R]):
    """``call(item)`` returns what ``run`` answered for that item; ``run`` gets every waiting item at once.

    ``run(batch)`` must set each future of its batch (a result, or an exception for that item alone); whatever it
    leaves unset gets the exception ``run`` raised, so a batch that fails as a whole fails each of its callers.
    """

    def __init__(self, run: Callable[[Batch[T, R]], None]) -> None:
        self._run = run
        self._ready = threading.Condition()
        self._pending: Batch[T, R] = []
        self._busy = False
        self.sizes: Counter[int] = Counter()  # how many batches of each size ran (the benchmark reads it)

    @property
    def waiting(self) -> int:
        """Items queued for the next batch (a test's gate waits for them)."""
        with self._ready:
            return len(self._pending)

    def call(self, item: T) -> R:
        future: Future[R] = Future()
        with self._ready:
            self._pending.append((item, future))
            while self._busy and not future.done():
                self._ready.wait()
            if future.done():
                return future.result()
            self._busy = True
            batch, self._pending = self._pending, []
            self.sizes[len(batch)] += 1
        try:
            self._run(batch)
        except BaseException as exc:
            for _, f in batch:
                if not f.done():
                    f.set_exception(exc)
        finally:
            for _, f in batch:
                if not f.done():
                    f.set_exception(RuntimeError("a grouped call left this item unanswered"))
            with self._ready:
                self._busy = False
                self._ready.notify_all()
        return future.result()
