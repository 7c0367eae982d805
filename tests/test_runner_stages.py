"""The runner's own CPU stages run on at most ``cpu_threads`` threads at once, its waits (the photo's fetch) outside
that bound; claim rounds take jobs ahead for the threads that ask next, and those jobs are held (heartbeated)
and given back when the run stops. Set up with gates; the one timeout is the bound test's window for a second
thread to break in."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from sqlalchemy import select

from depthstudio.cancel import CancelToken
from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.imaging.types import Avatar
from depthstudio.jobs import runner as runner_module
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.demo import placeholder_avatar
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import attempts, jobs
from tests.helpers import make_portal, portal_config, wait_for, write_avatars
from tests.servers.photo_server import PhotoServer


def _runner(db_url: str, tmp_path: Path, avatars: list[str], backend: SyntheticBackend, **kw: object) -> BulkRunner:
    make_portal(db_url, avatars)
    cfg = portal_config(db_url, tmp_path)
    portal = Portal.open(cfg)
    runner = BulkRunner(portal, backend, None, policy=cfg.fetch.policy(), **kw)  # type: ignore[arg-type]
    runner.queue.enqueue([(f"u{i:05d}", a) for i, a in enumerate(avatars)])
    return runner


class _Gated(SyntheticBackend):
    """The first call waits for ``release``; ``first`` is set when it has started."""

    def __init__(self) -> None:
        super().__init__()
        self.first = threading.Event()
        self.release = threading.Event()

    def predict(self, avatar: Avatar, *, cancel: CancelToken | None = None) -> DepthPrediction:
        if not self.first.is_set():
            self.first.set()
            self.release.wait(30)
        return super().predict(avatar, cancel=cancel)


def _run_in_thread(runner: BulkRunner) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(runner.run(until_empty=True)))
    thread.start()
    return thread, out


def test_no_more_threads_in_the_cpu_stages_than_cpu_threads(db_url, tmp_path, monkeypatch):
    lock = threading.Lock()
    seen = {"active": 0, "peak": 0, "calls": 0}
    second_in = threading.Event()

    def counted(inner):
        def stage(*args, **kwargs):
            with lock:
                seen["active"] += 1
                seen["calls"] += 1
                seen["peak"] = max(seen["peak"], seen["active"])
                first = seen["calls"] == 1
                if seen["active"] > 1:
                    second_in.set()
            try:
                if first:  # a window for another thread to enter beside this one, if the bound let it
                    second_in.wait(1.0)
                return inner(*args, **kwargs)
            finally:
                with lock:
                    seen["active"] -= 1

        return stage

    monkeypatch.setattr(runner_module, "decode_avatar", counted(runner_module.decode_avatar))
    monkeypatch.setattr(runner_module, "make_depth_map", counted(runner_module.make_depth_map))
    avatars = write_avatars(tmp_path / "avatars", 12)
    runner = _runner(db_url, tmp_path, avatars, SyntheticBackend(), concurrency=4, cpu_threads=1)
    assert runner.threads == 8
    summary = runner.run(until_empty=True)
    assert summary.ok and summary.progress.done == 12
    assert seen["calls"] == 24 and seen["peak"] == 1
    runner.portal.close()


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    placeholder_avatar(seed, size=96).save(out, "PNG")
    return out.getvalue()


def test_a_slow_photo_fetch_does_not_hold_the_cpu_stages_of_the_others(db_url, tmp_path):
    with PhotoServer().serving() as host:
        avatars = [host.put(f"/a/{i}.png", _png(i)) for i in range(6)]
        gate = host.hold["/a/0.png"] = threading.Event()
        events: list = []
        runner = _runner(
            db_url, tmp_path, avatars, SyntheticBackend(), concurrency=2, cpu_threads=1, on_item=events.append
        )
        thread, out = _run_in_thread(runner)
        try:
            wait_for(lambda: "/a/0.png" in host.held, "the first photo's fetch to hang")
            # with the fetch inside the one CPU stage slot, nobody else could decode a photo meanwhile
            wait_for(lambda: sum(e.outcome == "generated" for e in events) == 5, "the other five users", timeout=15)
        finally:
            gate.set()
            thread.join(60)
    assert out[0].ok and out[0].progress.done == 6
    runner.portal.close()


def test_jobs_claimed_ahead_are_heartbeated_and_given_back_uncounted_when_the_run_stops(db_url, tmp_path):
    avatars = write_avatars(tmp_path / "avatars", 10)
    backend = _Gated()
    runner = _runner(db_url, tmp_path, avatars, backend, concurrency=1, ahead=0, lease_s=1.5)
    runner.claim_ahead = 2  # one thread, so nobody picks up the jobs claimed ahead while its first item is held
    assert runner.threads == 1
    thread, out = _run_in_thread(runner)
    try:
        backend.first.wait(30)
        wait_for(lambda: len(runner._ready) == 2, "two jobs claimed ahead while the first is in the backend")
        ready = [job.id for job in runner._ready]
        with runner.portal.engine.connect() as conn:
            claimed_until = dict(
                conn.execute(select(jobs.c.id, jobs.c.lease_expires_at).where(jobs.c.id.in_(ready))).all()
            )

        def renewed() -> bool:
            with runner.portal.engine.connect() as conn:
                now = dict(conn.execute(select(jobs.c.id, jobs.c.lease_expires_at).where(jobs.c.id.in_(ready))).all())
            return all(now[i] > claimed_until[i] for i in ready)

        wait_for(renewed, "the heartbeat to renew the leases of the jobs claimed ahead", timeout=10)
        runner.stop()
    finally:
        backend.release.set()
        thread.join(60)
    summary = out[0]
    assert summary.progress.done >= 1
    with runner.portal.engine.connect() as conn:
        rows = conn.execute(select(jobs.c.id, jobs.c.status, jobs.c.attempts, jobs.c.lease_token)).all()
        outcomes = dict(conn.execute(select(attempts.c.job_id, attempts.c.outcome)).all())
    assert "running" not in {status for _, status, _, _ in rows}
    for job_id in ready:  # never started: back in the queue, the attempt not counted, closed as cancelled
        status, tries, token = next((s, a, t) for i, s, a, t in rows if i == job_id)
        assert (status, tries, token, outcomes[job_id]) == ("queued", 0, None, "cancelled")
    runner.portal.close()
