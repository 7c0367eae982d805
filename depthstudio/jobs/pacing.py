"""How many of a run's threads work at once: the cores, plus three times as many as are, on average, waiting.

A run starts enough threads to keep every backend slot busy while others prepare and record items (``concurrency``
plus up to 16 more). That many are needed only when items wait: on a backend that answers in 250 ms, on a photo
server, on a database across the network, on an upload. When nothing waits (a backend that answers at once, a
local SQLite), the extra threads only take turns at the GIL and at the runner's own locks: with 32 threads instead
of 2 the same 2,000-user run went ~12 % slower (bulk_job.py, L = 0, concurrency 16: a context switch count 2.8x as
high). The pacer measures, over short windows, how many working threads are waiting (not in what the runner marks
as its own CPU work: its CPU stages and their queue, the queue for a backend slot, and on SQLite, which runs inside
the process, the database rounds) and lets three times as many work beyond the cores; the rest are parked between
items, holding nothing. This is Little's law measured in place: the average number waiting is the arrival rate
times the wait, whatever the wait is made of, so the backend and the photo server need not say how slow they are.

It grows as fast as waits appear: with every working thread waiting (a backend that slowed down), the next limit
is three times as high plus the cores, so a run that was pacing for an instant backend has 16 slots' worth of
threads back within a few windows (a couple of seconds).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WINDOW_S = 0.5  # how long the waits are averaged over before the limit is set again
# Threads allowed per thread seen waiting: room for the CPU stages' queue and for the waits to grow into. At
# L = 50 ms, concurrency 16 (SQLite, ~10 threads waiting) a run needed 20 to 32 threads (12: -23 %, 16: -11 %);
# with 2 per thread waiting it settled at 17-21 and ran 9 % under the unpaced run, with 3 even with it.
HEADROOM = 3.0
# Less than one thread waiting on average is not worth a thread: the threads of the cores absorb it. It also keeps
# the GIL's hand-offs (time a thread waits for it counts as a wait) from holding extra threads in place: at L = 0 on
# SQLite 0.15 threads waited with 2 working, 0.5-0.7 with 4, and with 0.5 here a run could stay at 4, 15 % slower.
NOT_WORTH = 1.0


class Pacer:
    """Parks the threads beyond ``limit``; the limit follows the measured waits, within [cores, threads]."""

    def __init__(
        self,
        threads: int,
        cores: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.threads = max(1, threads)
        self.cores = max(1, min(cores, self.threads))
        self.limit = self.threads  # all of them until the first window has measured the waits
        self.limits: list[int] = []  # every limit set, in order (the benchmark and the tests read it)
        self._clock, self._cpu_clock = clock, cpu_clock
        self._mine = threading.local()  # per thread: its CPU clock when its last waiting stretch began
        self._cv = threading.Condition(threading.Lock())
        self._working = 0  # threads holding or claiming an item
        self._busy = 0  # of those: in a CPU stage or queued for one, or queued for a backend slot
        # Integral over the window of (working - busy), less the CPU those threads used meanwhile: code between the
        # stages (and a backend that computes in this process) is not a wait that another thread could cover.
        self._area = 0.0
        self._mark = self._window = clock()
        self._closed = False

    def _tick(self, now: float) -> None:
        self._area += (self._working - self._busy) * (now - self._mark)
        self._mark = now

    @contextmanager
    def working(self, index: int, stopped: Callable[[], bool]) -> Iterator[bool]:
        """Thread ``index`` may work (yields True) once it is under the limit; yields False when the run stopped,
        or when the pacer closed while it was parked (a thread that was working goes on: its item may come back
        for a retry)."""
        with self._cv:
            parked = False
            while index >= self.limit and not self._closed and not stopped():
                parked = True
                self._cv.wait(0.5)  # a stop is not always notified here: look again now and then
            allowed = not stopped() and not (parked and self._closed)
            if allowed:
                now = self._clock()
                self._tick(now)
                self._working += 1
                if now - self._window >= WINDOW_S:  # (at a start: every stretch before it has been accounted)
                    self._set_limit(max(0.0, self._area) / (now - self._window))
                    self._area, self._window = 0.0, now
        if allowed:
            self._mine.cpu = self._cpu_clock()
        else:
            yield False
            return
        try:
            yield True
        finally:
            used = self._cpu_clock() - self._mine.cpu
            with self._cv:
                now = self._clock()
                self._tick(now)
                self._area -= used
                self._working -= 1

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Around a CPU stage (with its queue) or a wait for a backend slot: time that is not a wait."""
        used = self._cpu_clock() - self._mine.cpu
        with self._cv:
            self._tick(self._clock())
            self._area -= used
            self._busy += 1
        try:
            yield
        finally:
            with self._cv:
                self._tick(self._clock())
                self._busy -= 1
            # Read once it counts as out of the stage, so no CPU it uses from then on goes unaccounted (a test's
            # clock that moves in between would otherwise charge that time to its next stretch).
            self._mine.cpu = self._cpu_clock()

    def _set_limit(self, waiting: float) -> None:
        if self._closed:
            return
        extra = math.floor(HEADROOM * waiting) if waiting >= NOT_WORTH else 0
        limit = min(self.threads, self.cores + extra)
        if limit != self.limit:
            grew = limit > self.limit
            self.limit = limit
            self.limits.append(limit)
            if grew:
                self._cv.notify_all()

    def close(self) -> None:
        """Nothing is left to claim, or the run stops: every parked thread leaves, and no thread parks again."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
