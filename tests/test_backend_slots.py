"""The runner's backend slots: ``concurrency`` bounds the depth-backend calls in flight, and the runner's other
threads prepare and record items meanwhile, so a freed slot never waits for the runner's own CPU work.

Set up with gates, never with sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from depthstudio.cancel import CancelToken
from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.postprocess import decode_png
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.imaging.types import Avatar
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.job_queue import ClaimedJob, JobQueue
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import NewResult
from depthstudio.render.result_plates import attach_layers, depth_levels
from tests.helpers import make_portal, portal_config, wait_for, write_avatars


def _portal(db_url: str, tmp_path: Path, n: int) -> Portal:
    make_portal(db_url, write_avatars(tmp_path / "avatars", n))
    return Portal.open(portal_config(db_url, tmp_path))


class _Counting(SyntheticBackend):
    """Counts the calls in flight; each waits for ``release`` (set by the test) before it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.active = self.peak = self.started = 0
        self.release = threading.Event()
        self.second = threading.Event()
        self.cv2_threads: list[int] = []
        self.sources: list[str] = []

    def predict(self, avatar: Avatar, *, cancel: CancelToken | None = None) -> DepthPrediction:
        with self.lock:
            self.active += 1
            self.started += 1
            self.peak = max(self.peak, self.active)
            self.cv2_threads.append(cv2.getNumThreads())
            self.sources.append(avatar.source)
            if self.started == 2:
                self.second.set()
        try:
            self.release.wait(30)
            return super().predict(avatar, cancel=cancel)
        finally:
            with self.lock:
                self.active -= 1


class _CountingSlots:
    """The runner's slot semaphore, counting the threads that asked for a slot."""

    def __init__(self, inner: threading.BoundedSemaphore) -> None:
        self.inner = inner
        self.asked = 0
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        with self._lock:
            self.asked += 1
        return self.inner.acquire(blocking, timeout)

    def release(self) -> None:
        self.inner.release()


def test_no_more_backend_calls_than_the_concurrency_while_every_thread_holds_an_item(db_url, tmp_path):
    portal = _portal(db_url, tmp_path, 12)
    backend = _Counting()
    job = GenerateMissingJob(portal, backend, None, portal.config, concurrency=3)
    runner = job.runner
    assert runner.threads > runner.concurrency == 3
    slots = _CountingSlots(runner._slots)
    runner._slots = slots  # type: ignore[assignment]
    cv2.setNumThreads(4)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(job.run()))
    thread.start()
    try:
        # Every thread has fetched its photo and asked for a slot (the three that got one are in the backend,
        # the others retry their wait): the bound is the semaphore's, not the number of threads.
        wait_for(lambda: backend.active == 3 and slots.asked >= runner.threads + 3, "every thread at the slots")
        assert backend.active == 3
    finally:
        backend.release.set()
        thread.join(60)
    summary = result[0]
    assert summary.ok and summary.progress.done == 12
    assert backend.peak == 3
    # OpenCV ran single-threaded inside the multi-threaded run, and has its own setting back afterwards.
    assert set(backend.cv2_threads) == {1} and cv2.getNumThreads() == 4
    portal.close()


@contextmanager
def _one_slot_held(db_url: str, tmp_path: Path) -> Iterator[tuple[BulkRunner, _Counting, list]]:
    """A run at concurrency 1 whose one slot is held by a call that does not end, with a second thread queued
    for the slot; on leaving, the call is let go and the run finishes."""
    portal = _portal(db_url, tmp_path, 4)
    backend = _Counting()
    events: list = []
    job = GenerateMissingJob(portal, backend, None, portal.config, concurrency=1, on_item=events.append)
    slots = _CountingSlots(job.runner._slots)
    job.runner._slots = slots  # type: ignore[assignment]
    thread = threading.Thread(target=job.run)
    thread.start()
    try:
        wait_for(lambda: backend.active == 1 and slots.asked >= 2, "a thread queued for the slot")
        yield job.runner, backend, events
    finally:
        backend.release.set()
        thread.join(60)
        portal.close()
    assert not thread.is_alive()


def test_a_thread_waiting_for_a_backend_slot_drops_a_job_whose_lease_was_lost(db_url, tmp_path):
    with _one_slot_held(db_url, tmp_path) as (runner, backend, events):
        with runner._lock:
            # the job of the thread at the slot: held, not in the backend, and not one of those claimed ahead
            queued = [
                j for j in runner._in_flight.values() if j.avatar_url not in backend.sources and j not in runner._ready
            ]
        # (one thread queued at the slot; under load the pacer may let a second one take a job meanwhile: either
        # is a held job outside the backend, and the lost lease must make its thread drop it)
        assert queued
        runner._lost.add(queued[0].id)  # what the heartbeat does when another worker took the lease
        wait_for(lambda: any(e.outcome == "lost" for e in events), "the queued thread to drop its job", timeout=10)
        assert backend.active == 1 and queued[0].avatar_url not in backend.sources


def test_a_thread_waiting_for_a_backend_slot_leaves_on_cancel(db_url, tmp_path):
    """The thread queued behind a call that will not end gives its job back at once."""
    with _one_slot_held(db_url, tmp_path) as (runner, backend, events):
        runner.cancel()
        wait_for(lambda: any(e.outcome == "cancelled" for e in events), "the queued thread to give up", timeout=10)
        assert backend.active == 1  # the call in the slot is still running: the wait ended by itself


class _HeldRecord(JobQueue):
    """Holds the first result's transaction until the backend has started a second call."""

    backend: _Counting
    overlapped: bool | None = None

    def complete_many(self, done: list[tuple[ClaimedJob, NewResult]]) -> list[int | None]:
        if self.overlapped is None:
            self.overlapped = self.backend.second.wait(20)
        return super().complete_many(done)


def test_the_backend_starts_the_next_item_while_the_last_one_is_still_being_recorded(db_url, tmp_path):
    """At concurrency 1 the slot is freed when the backend answers: before, the one thread post-processed,
    recorded and claimed again while the backend sat idle."""
    portal = _portal(db_url, tmp_path, 3)
    backend = _Counting()
    backend.release.set()
    job = GenerateMissingJob(portal, backend, None, portal.config, concurrency=1)
    held = _HeldRecord(portal, lease_s=job.runner.lease_s)
    held.backend = backend
    job.runner.queue = held
    summary = job.run()
    assert summary.ok and summary.progress.done == 3
    assert held.overlapped is True
    assert backend.peak == 1
    portal.close()


def test_the_stored_layers_come_from_the_map_s_own_levels_without_decoding_it(tmp_path):
    """The runner hands the plate and matte the 8-bit levels it encoded; they are exactly what the PNG holds."""
    avatar_path = write_avatars(tmp_path / "a", 1, size=96)[0]
    from depthstudio.depth.postprocess import make_depth_map
    from depthstudio.imaging import load_avatar

    config = portal_config(f"sqlite:///{tmp_path / 'p.sqlite3'}", tmp_path)
    avatar = load_avatar(avatar_path, config.fetch.policy())
    depth_map = make_depth_map(SyntheticBackend().predict(avatar), avatar)
    assert depth_map.levels8 is not None
    assert np.array_equal(depth_levels(depth_map.png8), depth_map.levels8)
    assert np.allclose(decode_png(depth_map.png16) * 255.0, depth_map.depth * 255.0, atol=0.01)
    kept = NewResult.from_depth_map(depth_map, avatar_url="x", avatar_sha256="s", backend="b", model="m")
    decoded = NewResult.from_depth_map(depth_map, avatar_url="x", avatar_sha256="s", backend="b", model="m")
    decoded.levels8 = None
    attach_layers(kept, avatar.image)
    attach_layers(decoded, avatar.image)
    assert kept.plate_png and kept.plate_png == decoded.plate_png and kept.matte_png == decoded.matte_png
