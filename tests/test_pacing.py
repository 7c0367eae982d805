"""The pacer: a run works with its cores plus as many threads as it sees waiting, parks the rest between items, and
grows again as soon as its items wait. The pacer's own rules run on a test clock, with gates for the parked
threads; the two runs check that a real run settles at its cores with an instant backend and reaches every
backend slot again when the backend slows down (that one on the run's own time, which the test moves: on the
machine's, a loaded machine decided it)."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from pathlib import Path

import pytest

from depthstudio.cancel import CancelToken
from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.imaging.types import Avatar
from depthstudio.jobs import pacing
from depthstudio.jobs.pacing import Pacer
from depthstudio.jobs.progress import Summary
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.repository import Portal
from tests.helpers import make_portal, portal_config, wait_for, write_avatars


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _never() -> bool:
    return False


def _no_cpu() -> float:
    """The threads' CPU clock of these tests: they use none, so all their time out of a CPU stage is a wait."""
    return 0.0


class _CpuClock:
    """Each thread's CPU clock, moved by the test: a thread "computes" by adding to its own."""

    def __init__(self) -> None:
        self.used: dict[int, float] = {}

    def __call__(self) -> float:
        return self.used.get(threading.get_ident(), 0.0)

    def spend(self, seconds: float) -> None:
        self.used[threading.get_ident()] = self() + seconds


def _window(
    pacer: Pacer,
    clock: _Clock,
    *,
    waiting: int = 0,
    busy: int = 0,
    computing: int = 0,
    computing_share: float = 1.0,
    cpu: _CpuClock | None = None,
) -> None:
    """One window in which ``waiting`` threads wait, ``busy`` are in a CPU stage and ``computing`` are outside the
    stages using the CPU ``computing_share`` of the time, all the window long (each as index 0, which is never
    parked: the counts matter here)."""
    inside = threading.Semaphore(0)
    leave = threading.Event()

    def thread(kind: str) -> None:
        with pacer.working(0, _never) as allowed:
            assert allowed
            with pacer.busy() if kind == "busy" else nullcontext():
                inside.release()
                leave.wait(10)
                if kind == "computing":
                    assert cpu is not None
                    cpu.spend(pacing.WINDOW_S * computing_share)

    kinds = ["busy"] * busy + ["computing"] * computing + ["waiting"] * waiting
    threads = [threading.Thread(target=thread, args=(kind,), daemon=True) for kind in kinds]
    for t in threads:
        t.start()
    for _ in threads:
        assert inside.acquire(timeout=10)
    clock.now += pacing.WINDOW_S
    leave.set()
    for t in threads:
        t.join(10)
    with pacer.working(0, _never):  # the window is closed by the next start after its end
        pass


def test_a_run_whose_threads_never_wait_works_with_its_cores_only():
    clock = _Clock()
    pacer = Pacer(32, 2, clock=clock, cpu_clock=_no_cpu)
    assert pacer.limit == 32  # every thread until a window has been measured
    _window(pacer, clock, waiting=0, busy=2)
    assert pacer.limit == 2 and pacer.limits == [2]


def test_the_limit_is_the_cores_plus_three_times_the_threads_seen_waiting():
    clock = _Clock()
    pacer = Pacer(32, 2, clock=clock, cpu_clock=_no_cpu)
    _window(pacer, clock, waiting=4, busy=2)
    assert pacer.limit == 2 + 12
    _window(pacer, clock, waiting=0, busy=2)
    _window(pacer, clock, waiting=40, busy=0)  # more waiting than there are threads: all of them, no more
    assert pacer.limits == [14, 2, 32]


def test_less_than_one_thread_waiting_is_not_worth_a_thread():
    clock, cpu = _Clock(), _CpuClock()
    pacer = Pacer(32, 2, clock=clock, cpu_clock=cpu)
    _window(pacer, clock, busy=2, computing=2, computing_share=0.6, cpu=cpu)  # each waits 40 %: 0.8 threads
    assert pacer.limit == 2
    _window(pacer, clock, busy=2, computing=2, computing_share=0.4, cpu=cpu)  # 60 %: 1.2, 2 + floor(3.6)
    assert pacer.limits == [2, 5]


def test_time_out_of_the_stages_spent_computing_is_not_a_wait():
    # e.g. a backend that computes in this process, or the code between the stages: another thread would not
    # make it go faster
    clock, cpu = _Clock(), _CpuClock()
    pacer = Pacer(32, 2, clock=clock, cpu_clock=cpu)
    _window(pacer, clock, waiting=1, busy=1, computing=3, cpu=cpu)
    assert pacer.limit == 2 + 3


def test_a_thread_over_the_limit_parks_until_the_waits_raise_it():
    clock = _Clock()
    pacer = Pacer(10, 2, clock=clock, cpu_clock=_no_cpu)
    _window(pacer, clock, waiting=0, busy=2)
    assert pacer.limit == 2
    entered = threading.Event()
    answers: list[bool] = []

    # The gate: the parked thread asks ``stopped`` only while it is over the limit (its loop's last test), so a
    # call seen under a limit proves it looked at that limit and stayed parked.
    looked: list[float] = []

    def stopped() -> bool:
        looked.append(pacer.limit)
        return False

    def seventh() -> None:
        with pacer.working(6, stopped) as allowed:
            answers.append(allowed)
            entered.set()

    thread = threading.Thread(target=seventh, daemon=True)
    thread.start()
    try:
        wait_for(lambda: 2 in looked, "the seventh thread to look at the limit of 2")
        assert not entered.is_set()  # parked: thread 6 of a limit of 2
        _window(pacer, clock, waiting=1, busy=0)  # one thread waiting: 2 + 3 = 5, thread 6 still over it
        assert pacer.limit == 5
        wait_for(lambda: 5 in looked, "the seventh thread to look at the limit of 5")
        assert not entered.is_set()
        _window(pacer, clock, waiting=2, busy=0)
        assert pacer.limit == 8
        assert entered.wait(5) and answers == [True]
    finally:
        pacer.close()
        thread.join(5)


def test_closing_sends_the_parked_threads_away_but_not_one_that_was_working():
    clock = _Clock()
    pacer = Pacer(8, 2, clock=clock, cpu_clock=_no_cpu)
    _window(pacer, clock, waiting=0, busy=2)
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(pacer.working(6, _never).__enter__()), daemon=True)
    thread.start()
    wait_for(lambda: thread.is_alive(), "the parked thread")
    pacer.close()
    thread.join(5)
    assert answers == [False]  # it held nothing and there is nothing left to claim
    # A thread that was working when the lane drained goes on (its item may come back for a retry), over the
    # limit or not, and the limit no longer moves.
    with pacer.working(7, _never) as allowed:
        assert allowed
    _window(pacer, clock, waiting=0, busy=1)
    assert pacer.limits == [2]


def test_a_stop_sends_a_parked_thread_away():
    clock = _Clock()
    pacer = Pacer(8, 2, clock=clock, cpu_clock=_no_cpu)
    _window(pacer, clock, waiting=0, busy=2)
    stop = threading.Event()
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(pacer.working(3, stop.is_set).__enter__()), daemon=True)
    thread.start()
    stop.set()  # not notified: the parked thread looks again on its own
    thread.join(5)
    assert answers == [False]


class _RunTime:
    """A run's time as the test keeps it: it moves only when the backend computes or the test lets a reply
    through, never while a thread waits for a core or the GIL, so the pacer measures the backend's waits and
    nothing of the machine's load. A worker thread computes whenever it is not waiting in the backend: its CPU
    clock is the run's time less its waits there."""

    def __init__(self) -> None:
        self.now = 100.0
        self.cv = threading.Condition()
        self.replies: dict[int, float] = {}  # thread waiting in the backend -> when its reply is due
        self._began: dict[int, float] = {}
        self._waited: dict[int, float] = {}

    def clock(self) -> float:
        return self.now

    def cpu_clock(self) -> float:
        me = threading.get_ident()
        with self.cv:
            waiting = self.now - self._began[me] if me in self._began else 0.0
            return self.now - self._waited.get(me, 0.0) - waiting

    def compute(self, seconds: float) -> None:
        """(with ``cv`` held) this thread's CPU work moves the run's time on."""
        self.now += seconds
        self.cv.notify_all()

    def wait(self, seconds: float) -> None:
        """(with ``cv`` held) wait until the test has moved the run's time ``seconds`` on."""
        me = threading.get_ident()
        self._began[me], self.replies[me] = self.now, self.now + seconds
        self.cv.notify_all()
        self.cv.wait_for(lambda: self.now >= self.replies[me])
        self._waited[me] = self._waited.get(me, 0.0) + self.now - self._began.pop(me)
        del self.replies[me]


class _SlowsDown(SyntheticBackend):
    """Computes for a millisecond of the run's time on each of the first ``instant`` calls, then waits
    ``latency`` of it on each; counts the calls in flight."""

    def __init__(self, time_: _RunTime, instant: int, latency: float) -> None:
        super().__init__()
        self.time, self.instant, self.slow = time_, instant, latency
        self.started = self.active = self.peak_slow = 0  # (``calls`` is counted by the synthetic backend's predict)

    def predict(self, avatar: Avatar, *, cancel: CancelToken | None = None) -> DepthPrediction:
        with self.time.cv:
            self.started += 1
            if self.started <= self.instant:
                self.time.compute(0.001)
            else:
                self.active += 1
                self.peak_slow = max(self.peak_slow, self.active)
                try:
                    self.time.wait(self.slow)
                finally:
                    self.active -= 1
        return super().predict(avatar, cancel=cancel)


def _drive(time_: _RunTime, backend: _SlowsDown, runner: BulkRunner, users: int, run: threading.Thread) -> None:
    """Lets the next reply through once every thread the pacer lets work is waiting in the backend (or every
    slot is, the other threads queued for one), as many as there are users left, and no working thread is
    anywhere else out of a CPU stage: the waits the pacer sees are exactly the backend's, as its limit allows."""
    pacer = runner.pacer

    def settled() -> bool:
        waiting = len(time_.replies)
        with pacer._cv:  # the pacer's own counts: a thread between two stages would charge its CPU late
            elsewhere = pacer._working - pacer._busy - waiting
        left = users - backend.started
        return waiting > 0 and elsewhere == 0 and waiting >= min(runner.concurrency, pacer.limit, waiting + left)

    deadline = time.monotonic() + 120
    while run.is_alive():
        assert time.monotonic() < deadline, "the run did not settle"
        with time_.cv:
            if time_.cv.wait_for(settled, timeout=0.05):
                time_.now = min(time_.replies.values())
                time_.cv.notify_all()


def _runner(db_url: str, tmp_path: Path, n: int, backend: SyntheticBackend, **kw: object) -> BulkRunner:
    avatars = write_avatars(tmp_path / "avatars", n)
    make_portal(db_url, avatars)
    cfg = portal_config(db_url, tmp_path)
    runner = BulkRunner(Portal.open(cfg), backend, None, policy=cfg.fetch.policy(), **kw)  # type: ignore[arg-type]
    runner.queue.enqueue([(f"u{i:05d}", a) for i, a in enumerate(avatars)])
    return runner


@pytest.fixture
def short_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing, "WINDOW_S", 0.03)


def test_with_an_instant_backend_on_sqlite_a_run_settles_at_its_cores(tmp_path, short_windows):
    # SQLite's rounds are this process's CPU, not waits: nothing but the photo reads and the (instant) backend
    # waits, so the run parks all but its cores.
    runner = _runner(
        f"sqlite:///{tmp_path / 'portal.sqlite3'}", tmp_path, 150, SyntheticBackend(), concurrency=8, cpu_threads=2
    )
    assert runner.threads == 16
    summary = runner.run(until_empty=True)
    assert summary.ok and summary.progress.done == 150
    assert runner.pacer.limits and min(runner.pacer.limits) == runner.cpu_threads, runner.pacer.limits
    runner.portal.close()


def test_a_paced_run_reaches_every_backend_slot_again_when_the_backend_slows_down(db_url, tmp_path, short_windows):
    # On the run's own time (see _RunTime): on the machine's, a loaded machine's waits for a core looked like
    # waits for the backend, and a run short of CPU rightly kept fewer threads than slots.
    time_ = _RunTime()
    backend = _SlowsDown(time_, instant=100, latency=0.1)
    runner = _runner(
        db_url, tmp_path, 250, backend, concurrency=10, cpu_threads=2, pacer_clocks=(time_.clock, time_.cpu_clock)
    )
    summaries: list[Summary] = []
    before = runner.pacer
    run = threading.Thread(target=lambda: summaries.append(runner.run(until_empty=True)), daemon=True)
    run.start()
    wait_for(lambda: runner.pacer is not before, "the run's pacer")  # (run() makes a new one)
    _drive(time_, backend, runner, 250, run)
    assert summaries and summaries[0].ok and summaries[0].progress.done == 250
    limits = runner.pacer.limits
    # it parked threads while the backend answered at once, and took them back when it slowed down (the run's
    # tail, with few users left, may park them again)
    first_low = next((i for i, n in enumerate(limits) if n < runner.concurrency), None)
    assert first_low is not None, limits
    assert max(limits[first_low:]) >= runner.concurrency + 2, limits
    assert backend.peak_slow == runner.concurrency  # every slot in use again
    runner.portal.close()
