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
        self._lock = threading.Lock()
        # (item, its answer, the caller's turn): the turn is set when the answer is in, or when the caller is to
        # lead the next batch, so that each batch wakes its own callers and one successor, not every thread.
        self._pending: list[tuple[T, Future[R], threading.Event]] = []
        self._busy = False
        self.sizes: Counter[int] = Counter()  # how many batches of each size ran (the benchmark reads it)

    @property
    def waiting(self) -> int:
        """Items queued for the next batch (a test's gate waits for them)."""
        with self._lock:
            return len(self._pending)

    def call(self, item: T) -> R:
        future: Future[R] = Future()
        turn = threading.Event()
        with self._lock:
            self._pending.append((item, future, turn))
            lead, self._busy = not self._busy, True
        if not lead:
            turn.wait()
            if future.done():
                return future.result()
        with self._lock:
            taken, self._pending = self._pending, []
            self.sizes[len(taken)] += 1
        batch = [(i, f) for i, f, _ in taken]
        try:
            self._run(batch)
        except BaseException as exc:
            for _, f in batch:
                if not f.done():
                    f.set_exception(exc)
        finally:
            for _, f, t in taken:
                if not f.done():
                    f.set_exception(RuntimeError("a grouped call left this item unanswered"))
                t.set()
            with self._lock:
                if self._pending:
                    self._pending[0][2].set()  # the first caller that arrived meanwhile leads the next batch
                else:
                    self._busy = False
        return future.result()
