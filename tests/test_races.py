"""Races in the queue and the publisher, each reproduced deterministically with a gate (a hook that runs the
competing step at the exact moment it matters), never with sleeps."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select, update

from depthstudio.cancel import CancelToken
from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.imaging.types import Avatar
from depthstudio.jobs.publish import STALE, publish_result
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import record_result
from depthstudio.portal.tables import jobs, results
from depthstudio.storage.folder_store import LocalDirectoryStore
from depthstudio.storage.store import StoredAsset, StoreKey
from tests.helpers import make_portal, maps_only, portal_config, tiny_result, write_avatars


def _portal(db_url: str, tmp_path: Path, n: int = 1, **job: object) -> tuple[Portal, list[str]]:
    avatars = write_avatars(tmp_path / "avatars", n)
    make_portal(db_url, avatars)
    return Portal.open(portal_config(db_url, tmp_path, **job)), avatars


class _GatedStore(LocalDirectoryStore):
    """A real local store that runs ``during_put`` once, between the publisher's plan and its upload."""

    def __init__(self, root: Path, during_put: Callable[[], None]) -> None:
        super().__init__(root)
        self.during_put: Callable[[], None] | None = during_put

    def put(self, key: StoreKey, png: bytes) -> StoredAsset:
        hook, self.during_put = self.during_put, None
        if hook is not None:
            hook()
        return super().put(key, png)


def _depth(portal: Portal, user_id: str = "u00000") -> str | None:
    row = portal.get_user(user_id)
    assert row is not None
    return row.depth_url


# --- 1. publish re-checks approval and currency inside the compare-and-set ----------------------------------


def test_a_map_rejected_while_its_upload_runs_is_not_written(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path)
    rid = record_result(portal, "u00000", tiny_result(avatars[0]))
    portal.decide(["u00000"], "approved", reviewer="a")
    store = _GatedStore(tmp_path / "store", lambda: portal.decide(["u00000"], "rejected", reviewer="b"))
    out = publish_result(portal, store, rid)
    assert out.outcome == STALE and _depth(portal) is None
    assert portal.result(rid).published_url is None  # type: ignore[union-attr]


def test_a_map_no_longer_approved_is_not_uploaded(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path)
    rid = record_result(portal, "u00000", tiny_result(avatars[0]))
    portal.decide(["u00000"], "approved", reviewer="a")
    portal.decide(["u00000"], "rejected", reviewer="b")  # after the publish job planned it
    out = publish_result(portal, LocalDirectoryStore(tmp_path / "store"), rid)
    assert out.outcome == STALE and _depth(portal) is None
    assert list((tmp_path / "store").glob("*.png")) == []


def test_an_older_result_never_overwrites_a_newer_published_one(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path)
    old = record_result(portal, "u00000", tiny_result(avatars[0]))
    portal.decide(["u00000"], "approved", reviewer="a")
    plain = LocalDirectoryStore(tmp_path / "store")
    newer: dict[str, str | None] = {}

    def regenerate_and_publish() -> None:  # a second publisher wins the race with a regenerated map
        new = tiny_result(avatars[0])
        new.avatar_sha256 = "cd" * 32
        rid = record_result(portal, "u00000", new)
        portal.decide(["u00000"], "approved", reviewer="a")
        newer["url"] = publish_result(portal, plain, rid).url

    out = publish_result(portal, _GatedStore(tmp_path / "store", regenerate_and_publish), old)
    assert newer["url"] is not None and out.outcome == STALE
    assert _depth(portal) == newer["url"]


def test_a_direct_publish_without_review_still_publishes(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path)
    rid = record_result(portal, "u00000", tiny_result(avatars[0]))
    out = publish_result(portal, LocalDirectoryStore(tmp_path / "store"), rid, require_approval=False)
    assert out.outcome == "published" and _depth(portal) == out.url


# --- 3. fencing: every claim has its own token ------------------------------------------------------------


def test_a_sibling_thread_that_reclaims_a_lapsed_lease_fences_out_the_first(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path)
    q = JobQueue(portal, lease_s=0.0)
    q.enqueue([("u00000", avatars[0])])
    first = q.claim("host:1:same")
    second = q.claim("host:1:same")  # the same runner's other thread, after the lease lapsed
    assert first is not None and second is not None and first.id == second.id
    assert not q.heartbeat(first)
    assert q.complete(first, tiny_result(avatars[0])) is None
    q.release(first)  # must not undo the sibling's claim
    with portal.engine.connect() as conn:
        assert conn.execute(select(jobs.c.status)).scalar_one() == "running"
    assert q.complete(second, tiny_result(avatars[0])) is not None
    with portal.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(results)).scalar_one() == 1


def test_dead_pid_expiry_leaves_a_lease_of_another_machine_with_the_same_host_name(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path)
    q = JobQueue(portal)
    q.enqueue([("u00000", avatars[0])])
    dead_pid = 2**22 + 17  # beyond pid_max here: no such process on this machine
    other = q.claim(f"{socket.gethostname()}:{dead_pid}:abcdef")  # same host name, no boot id of ours
    assert other is not None
    assert q.expire_dead_local_leases(socket.gethostname()) == 0
    assert q.claim("someone-else") is None


def test_dead_pid_expiry_still_frees_a_lease_of_this_machine(db_url, tmp_path):
    from depthstudio.jobs.runner import worker_id_for_pid

    portal, avatars = _portal(db_url, tmp_path)
    q = JobQueue(portal)
    q.enqueue([("u00000", avatars[0])])
    assert q.claim(worker_id_for_pid(2**22 + 17)) is not None
    assert q.expire_dead_local_leases(socket.gethostname()) == 1
    assert q.claim(worker_id_for_pid(os.getpid())) is not None


class _Gate(SyntheticBackend):
    """Runs ``during`` inside the first predict call, then predicts normally."""

    def __init__(self, during: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.during = during

    def predict(self, avatar: Avatar, *, cancel: CancelToken | None = None) -> DepthPrediction:
        hook, self.during = self.during, None
        if hook is not None:
            hook()
        return super().predict(avatar, cancel=cancel)


def test_two_runners_sharing_a_worker_id_with_a_lapsing_lease_make_one_result_and_one_asset(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, lease_s=60.0)
    cfg = portal.config
    store = LocalDirectoryStore(tmp_path / "store")
    worker = f"{socket.gethostname()}:{os.getpid()}:shared"
    b_inside, b_go = threading.Event(), threading.Event()

    def b_waits() -> None:
        b_inside.set()
        assert b_go.wait(30)

    runner_b = BulkRunner.from_config(portal, _Gate(b_waits), store, cfg, concurrency=1)
    runner_b.worker_id = worker
    b_summary: list[object] = []

    def a_lapses_then_is_cancelled() -> None:
        with portal.engine.begin() as conn:  # the lease lapses mid-item (a long stall of runner A)
            conn.execute(update(jobs).values(lease_expires_at=jobs.c.created_at))
        t = threading.Thread(target=lambda: b_summary.append(runner_b.run(until_empty=True)))
        t.start()
        assert b_inside.wait(30)  # B holds the job now, with the same worker id
        runner_a.cancel()  # A gives up: its release must not put B's job back in the queue
        threads.append(t)

    threads: list[threading.Thread] = []
    runner_a = BulkRunner.from_config(portal, _Gate(a_lapses_then_is_cancelled), store, cfg, concurrency=1)
    runner_a.worker_id = worker
    # A runs one thread: a second thread of A, polling the queue, could re-claim the lapsed job before B does (a
    # sibling's re-claim is the test above), and then wait behind A's own held backend slot (1 run in 8 hung here).
    runner_a.threads, runner_a.claim_ahead = 1, 0
    JobQueue(portal).enqueue([("u00000", avatars[0])], publish=True)
    runner_a.run(until_empty=True)
    b_go.set()
    threads[0].join(30)
    with portal.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(results)).scalar_one() == 1
        assert conn.execute(select(jobs.c.status)).scalars().all() == ["done"]
    assert len(maps_only((tmp_path / "store").glob("*.png"))) == 1
    assert _depth(portal) is not None and store.owns(_depth(portal) or "")


# --- 6. SQLite transactions begin before their first read ----------------------------------------------------


def test_a_sqlite_transaction_holds_its_snapshot_from_the_first_read(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    portal, avatars = _portal(url, tmp_path)
    record_result(portal, "u00000", tiny_result(avatars[0]))
    with portal.engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(results)).scalar_one()
        assert conn.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
        record_result(portal, "u00000", tiny_result(avatars[0]))  # another connection commits meanwhile
        assert conn.execute(select(func.count()).select_from(results)).scalar_one() == before == 1


# --- 4. runs stay in their lane ----------------------------------------------------------------------------


def test_a_limited_run_claims_only_the_jobs_it_enqueued(db_url, tmp_path):
    from depthstudio.jobs.generate import GenerateMissingJob

    portal, avatars = _portal(db_url, tmp_path, 4)
    other = [("u00002", avatars[2]), ("u00003", avatars[3])]
    JobQueue(portal).enqueue(other, batch="someone-elses-run")
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, portal.config, limit=2).run()
    assert summary.ok and summary.progress.total == 2 and summary.progress.done == 2
    assert {portal.get_user(u).status for u in ("u00000", "u00001")} == {"generated"}  # type: ignore[union-attr]
    assert {portal.get_user(u).status for u in ("u00002", "u00003")} == {"queued"}  # type: ignore[union-attr]


def test_a_run_does_not_wait_for_its_users_job_held_by_a_live_worker_elsewhere(db_url, tmp_path):
    from depthstudio.jobs.generate import GenerateMissingJob

    portal, avatars = _portal(db_url, tmp_path, 2)
    q = JobQueue(portal, lease_s=3600.0)
    q.enqueue([("u00001", avatars[1])], batch="run-on-another-machine")
    assert q.claim("elsewhere/0:1:x") is not None  # a live lease on another machine
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, portal.config, user_ids=["u00000", "u00001"]).run()
    assert summary.progress.total == 1 and summary.progress.done == 1
    assert portal.get_user("u00001").status == "generating"  # type: ignore[union-attr]


def test_jobs_left_by_a_run_that_died_are_taken_over_by_the_next_run_for_those_users(db_url, tmp_path):
    from depthstudio.jobs.generate import GenerateMissingJob

    portal, avatars = _portal(db_url, tmp_path, 3)
    q = JobQueue(portal, lease_s=0.0)
    q.enqueue([(f"u{i:05d}", avatars[i]) for i in range(3)], batch="dead-run")
    assert q.claim("gone/0:1:x", batch="dead-run") is not None  # died holding u00000; u00001-2 still queued
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, portal.config).run()
    assert summary.ok and summary.progress.done == 3
    assert {portal.get_user(f"u{i:05d}").status for i in range(3)} == {"generated"}  # type: ignore[union-attr]


# --- 5. retries that are safe to repeat ----------------------------------------------------------------------


def test_a_repeated_finish_after_a_lost_acknowledgement_is_not_reported_lost(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path)
    q = JobQueue(portal)
    q.enqueue([("u00000", avatars[0])], publish=True)
    job = q.claim("w")
    assert job is not None and q.complete(job, tiny_result(avatars[0])) is not None
    assert q.finish(job)
    assert q.finish(job)  # what retry_on_disconnect does when the first commit's acknowledgement was lost
    assert q.complete(job, tiny_result(avatars[0])) is not None  # likewise for the result: the linked one, not None
    with portal.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(results)).scalar_one() == 1
