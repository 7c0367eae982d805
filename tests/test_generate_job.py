"""The bulk job end to end on real databases: generate, fail one and go on, retry, cancel, compare-and-set."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import numpy as np
from sqlalchemy import func, select

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import GenerateMissingJob, PublishApprovedJob
from depthstudio.jobs.publish import publish_result
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal, Query
from depthstudio.portal.reviews import Decision
from depthstudio.portal.tables import attempts, jobs, result_blobs, results
from depthstudio.storage.folder_store import LocalDirectoryStore
from tests.helpers import make_portal, maps_only, portal_config, set_avatar, tiny_result, write_avatars


def _setup(db_url, tmp_path, n=20, **job):
    avatars = write_avatars(tmp_path / "avatars", n)
    make_portal(db_url, avatars)
    cfg = portal_config(db_url, tmp_path, **job)
    return Portal.open(cfg), cfg, avatars


def _consistent(portal: Portal) -> None:
    """No half-written rows: every result has its PNG, every done job its result, nothing left running."""
    with portal.engine.connect() as conn:
        orphans = conn.execute(
            select(func.count()).select_from(results.outerjoin(result_blobs)).where(result_blobs.c.result_id.is_(None))
        ).scalar_one()
        done_without = conn.execute(
            select(func.count()).select_from(jobs).where(jobs.c.status == "done", jobs.c.result_id.is_(None))
        ).scalar_one()
        running = conn.execute(select(func.count()).select_from(jobs).where(jobs.c.status == "running")).scalar_one()
    assert (orphans, done_without, running) == (0, 0, 0)


def test_generates_every_missing_user_once(db_url, tmp_path):
    portal, cfg, _ = _setup(db_url, tmp_path, 30)
    seen = []
    job = GenerateMissingJob(portal, SyntheticBackend(), None, cfg, concurrency=4, on_progress=seen.append)
    summary = job.run()
    assert summary.ok and summary.progress.done == 30 and summary.progress.outcomes == {"generated": 30}
    assert seen[-1].fraction == 1.0
    assert portal.status_counts()["generated"] == 30
    with portal.engine.connect() as conn:
        per_user = conn.execute(select(results.c.user_id, func.count()).group_by(results.c.user_id)).all()
    assert len(per_user) == 30 and all(n == 1 for _, n in per_user)
    _consistent(portal)
    again = GenerateMissingJob(portal, SyntheticBackend(), None, cfg).run()
    assert again.progress.done == 0  # nothing missing any more


def test_a_corrupt_photo_fails_that_user_and_the_batch_goes_on(db_url, tmp_path):
    portal, cfg, _avatars = _setup(db_url, tmp_path, 6)
    broken = tmp_path / "avatars" / "avatar-00002.png"
    broken.write_bytes(b"<html><body>Not Found</body></html>")
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, cfg, concurrency=2).run()
    assert summary.progress.outcomes == {"generated": 5, "failed": 1}
    assert [f.user_id for f in summary.failures] == ["u00002"]
    row = portal.get_user("u00002")
    assert row.status == "failed" and row.error_kind and "image" in row.error.lower()
    _consistent(portal)


def test_transient_errors_are_retried_with_attempts_recorded(db_url, tmp_path):
    portal, cfg, _ = _setup(db_url, tmp_path, 1, retries=3)
    summary = GenerateMissingJob(portal, SyntheticBackend(transient_failures=2), None, cfg).run()
    assert summary.ok and summary.progress.retried == 2
    with portal.engine.connect() as conn:
        outcomes = [r[0] for r in conn.execute(select(attempts.c.outcome).order_by(attempts.c.id))]
    assert outcomes == ["retry", "retry", "done"]


def test_permanent_failure_after_max_attempts(db_url, tmp_path):
    portal, cfg, _ = _setup(db_url, tmp_path, 1, retries=2)
    summary = GenerateMissingJob(portal, SyntheticBackend(transient_failures=5), None, cfg).run()
    assert not summary.ok and summary.failures[0].error_kind == "server_error"
    assert portal.get_user("u00000").status == "failed"


def test_cancel_mid_run_leaves_the_queue_consistent(db_url, tmp_path):
    portal, cfg, _ = _setup(db_url, tmp_path, 40)
    job = GenerateMissingJob(portal, SyntheticBackend(latency_s=0.05), None, cfg, concurrency=4)
    started = threading.Event()
    job.runner.on_item = lambda e: started.set()
    t = threading.Thread(target=job.run)
    t.start()
    assert started.wait(30)
    job.cancel()
    t.join(30)
    assert not t.is_alive()
    _consistent(portal)
    counts = portal.status_counts()
    assert counts["generated"] < 40 and counts["generated"] + counts["missing"] == 40  # nothing left "queued"
    assert JobQueue(portal).pending() == 0
    rest = GenerateMissingJob(portal, SyntheticBackend(), None, cfg).run()  # a rerun does the rest
    assert rest.ok and portal.status_counts()["generated"] == 40


class _ChangesPhotoMidway(SyntheticBackend):
    """The user uploads a new photo while their depth map is being generated."""

    def __init__(self, db_url: str, new_avatar: str) -> None:
        super().__init__()
        self.db_url, self.new_avatar = db_url, new_avatar

    def predict(self, avatar, *, cancel=None):
        set_avatar(self.db_url, "u00000", self.new_avatar)
        return super().predict(avatar, cancel=cancel)


def test_photo_changed_during_generation_ends_stale_and_column_untouched(db_url, tmp_path):
    portal, cfg, avatars = _setup(db_url, tmp_path, 2)
    store = LocalDirectoryStore(tmp_path / "store")
    backend = _ChangesPhotoMidway(db_url, avatars[1])
    summary = GenerateMissingJob(portal, backend, store, cfg, publish=True, user_ids=["u00000"]).run()
    assert summary.progress.outcomes == {"stale": 1}
    row = portal.get_user("u00000")
    assert row.status == "stale" and row.depth_url is None
    assert list((tmp_path / "store").glob("*.png")) == []  # nothing uploaded for a photo that changed


def test_publish_approved_writes_once_and_reruns_write_nothing(db_url, tmp_path):
    portal, cfg, _ = _setup(db_url, tmp_path, 3)
    store = LocalDirectoryStore(tmp_path / "store")
    GenerateMissingJob(portal, SyntheticBackend(), None, cfg).run()
    portal.decide(["u00000", "u00001"], "approved", reviewer="ed")
    summary = PublishApprovedJob(portal, store, cfg).run()
    assert summary.progress.outcomes == {"published": 2}
    row = portal.get_user("u00000")
    assert row.status == "published" and store.owns(row.depth_url)
    assert portal.get_user("u00002").status == "generated"
    assert len(maps_only((tmp_path / "store").glob("*.png"))) == 2
    assert PublishApprovedJob(portal, store, cfg).run().progress.total == 0  # published users are not approved


def test_enqueue_never_queues_a_user_twice(db_url, tmp_path):
    portal, _cfg, avatars = _setup(db_url, tmp_path, 3)
    q = JobQueue(portal)
    assert q.enqueue([("u00000", avatars[0]), ("u00001", avatars[1])]) == 2
    assert q.enqueue([("u00000", avatars[0]), ("u00002", avatars[2])]) == 1
    assert q.pending() == 3


def test_a_worker_that_lost_its_lease_records_nothing(db_url, tmp_path):
    portal, _cfg, avatars = _setup(db_url, tmp_path, 1)
    q = JobQueue(portal, lease_s=0.0)
    q.enqueue([("u00000", avatars[0])])
    first = q.claim("worker-a")
    second = JobQueue(portal).claim("worker-b")  # a's lease expired at once: b takes the job over
    assert first is not None and second is not None and second.id == first.id
    new = tiny_result(avatars[0])
    assert q.complete(first, new) is None
    with portal.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(results)).scalar_one() == 0
    assert JobQueue(portal).complete(second, new) is not None
    with portal.engine.connect() as conn:
        assert conn.execute(select(attempts.c.outcome).order_by(attempts.c.id)).scalars().all() == ["lost", "done"]


def test_a_failed_user_who_uploads_a_new_photo_needs_a_map_again(db_url, tmp_path):
    portal, cfg, avatars = _setup(db_url, tmp_path, 2)
    (tmp_path / "avatars" / "avatar-00000.png").write_bytes(b"not an image")
    GenerateMissingJob(portal, SyntheticBackend(), None, cfg).run()
    assert portal.get_user("u00000").status == "failed"
    set_avatar(db_url, "u00000", avatars[1])  # a new, good photo
    assert portal.get_user("u00000").status == "missing"
    assert GenerateMissingJob(portal, SyntheticBackend(), None, cfg).run().ok
    assert portal.get_user("u00000").status == "generated"


def test_a_publishing_job_taken_by_a_run_without_a_store_ends_generated(db_url, tmp_path):
    portal, cfg, avatars = _setup(db_url, tmp_path, 1)
    JobQueue(portal).enqueue([("u00000", avatars[0])], publish=True)
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, cfg, publish=False).run()
    assert summary.progress.outcomes == {"generated": 1}
    assert JobQueue(portal).pending() == 0 and portal.get_user("u00000").status == "generated"


def test_a_job_whose_worker_keeps_dying_stops_after_max_attempts(db_url, tmp_path):
    portal, _cfg, avatars = _setup(db_url, tmp_path, 1)
    q = JobQueue(portal, lease_s=0.0)
    q.enqueue([("u00000", avatars[0])], max_attempts=2)
    assert q.claim("w1") is not None and q.claim("w2") is not None  # two workers died holding it
    assert q.claim("w3") is None
    row = portal.get_user("u00000")
    assert row.status == "failed" and row.error_kind == "worker_lost"
    with portal.engine.connect() as conn:  # every attempt closed: the failure counts both deaths
        closed = conn.execute(select(attempts.c.outcome, attempts.c.finished_at.is_not(None))).all()
    assert sorted(closed) == [("lost", True), ("lost", True)]


def test_a_decision_does_not_carry_over_to_a_regenerated_map(db_url, tmp_path):
    portal, cfg, _ = _setup(db_url, tmp_path, 1)
    GenerateMissingJob(portal, SyntheticBackend(), None, cfg).run()
    portal.decide(["u00000"], "approved", reviewer="ed")
    assert portal.get_user("u00000").status == "approved"
    GenerateMissingJob(portal, SyntheticBackend(), None, cfg, user_ids=["u00000"]).run()  # "regenerate"
    assert portal.get_user("u00000").status == "generated"
    assert PublishApprovedJob(portal, LocalDirectoryStore(tmp_path / "s"), cfg).run().progress.total == 0


def test_retrying_a_failed_publish_publishes_the_same_map_without_regenerating(db_url, tmp_path):
    portal, cfg, _ = _setup(db_url, tmp_path, 1, retries=1)
    broken = LocalDirectoryStore(tmp_path / "not-a-dir")
    (tmp_path / "not-a-dir").write_text("a file where the store's folder should be")
    GenerateMissingJob(portal, SyntheticBackend(), broken, cfg, publish=True).run()
    row = portal.get_user("u00000")
    assert row.status == "failed" and row.result_id is not None
    backend = SyntheticBackend()
    store = LocalDirectoryStore(tmp_path / "store")
    summary = GenerateMissingJob(portal, backend, store, cfg, publish=True, include_failed=True).run()
    assert summary.progress.outcomes == {"published": 1} and backend.calls == 0
    assert portal.get_user("u00000").result_id == row.result_id


class _LostWatch(set):
    """The runner's set of in-flight jobs it has lost, which tells a waiting test the moment one is added."""

    def __init__(self) -> None:
        super().__init__()
        self.added = threading.Event()

    def add(self, job_id: int) -> None:
        super().add(job_id)
        self.added.set()


class _StolenMidway(SyntheticBackend):
    """While this worker predicts, its lease lapses and another worker takes the job over; the prediction then
    waits (a gate, not a sleep) until this worker's heartbeat has found the lease gone."""

    def __init__(self, portal: Portal, lost: _LostWatch) -> None:
        super().__init__()
        self.portal = portal
        self.lost = lost
        self.thief = None

    def predict(self, avatar, *, cancel=None):
        from sqlalchemy import update

        from depthstudio.portal.repository import utcnow

        with self.portal.engine.begin() as conn:  # lapsed an hour ago by any clock, the client's or the server's
            conn.execute(update(jobs).values(lease_expires_at=utcnow() - dt.timedelta(hours=1)))
        self.thief = JobQueue(self.portal).claim("thief")
        assert self.lost.added.wait(30), "the heartbeat never noticed the lost lease"
        return super().predict(avatar, cancel=cancel)


def test_a_worker_that_loses_its_lease_mid_item_abandons_it(db_url, tmp_path):
    portal, cfg, _ = _setup(db_url, tmp_path, 1, lease_s=1.0)
    lost, ended = _LostWatch(), threading.Event()
    backend = _StolenMidway(portal, lost)
    # One worker thread: a sibling thread would otherwise claim the lapsed job before the thief does.
    job = GenerateMissingJob(
        portal, backend, None, cfg, concurrency=1, on_item=lambda e: e.outcome == "lost" and ended.set()
    )
    runner = job.runner
    runner._lost = lost
    runner.queue.enqueue(job.plan())
    # Serve the queue (not drain it: the thief holds the job, so the queue never looks empty to this worker).
    t = threading.Thread(target=runner.run, kwargs={"until_empty": False, "poll_s": 0.1, "total": 1})
    t.start()
    assert ended.wait(30)
    runner.stop()
    t.join(10)
    assert backend.thief is not None and runner.progress.outcomes == {"lost": 1}
    with portal.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(results)).scalar_one() == 0
    new = tiny_result(backend.thief.avatar_url)
    assert JobQueue(portal).complete(backend.thief, new) is not None  # the new owner finishes undisturbed


class _BlackFor(SyntheticBackend):
    """A broken model for one user: an all-black map (what random or failed weights give)."""

    def __init__(self, user_photo: str) -> None:
        super().__init__()
        self.user_photo = user_photo

    def predict(self, avatar, *, cancel=None):
        made = super().predict(avatar, cancel=cancel)
        if avatar.source.endswith(self.user_photo):
            made = dataclasses.replace(made, disparity=np.zeros_like(made.disparity))
        return made


def test_a_publish_nobody_reviews_holds_a_qa_flagged_map_for_an_editor(db_url, tmp_path):
    # review off (generate-missing --publish): the good maps go live, the black one is not published silently; it
    # waits, QA-flagged, for an editor, and the run says why.
    portal, cfg, _ = _setup(db_url, tmp_path, 3)
    store = LocalDirectoryStore(tmp_path / "store")
    summary = GenerateMissingJob(portal, _BlackFor("avatar-00001.png"), store, cfg, publish=True).run()
    assert summary.ok and summary.progress.outcomes == {"published": 2, "held for review": 1}
    assert "1 held for review" in summary.line()
    held = portal.get_user("u00001")
    assert held.status == "generated" and held.depth_url is None and held.qa_risk >= 0.5
    assert [u.id for u in portal.list_users(Query(flagged=True))] == ["u00001"]
    assert all(portal.get_user(u).status == "published" for u in ("u00000", "u00002"))
    # an editor who looks and approves it anyway may publish it: the hold is for publishes nobody reviews
    assert portal.decide(["u00001"], Decision.APPROVED, reviewer="editor") == ["u00001"]
    # ... also through a publish nobody reviews (review off): the approval says the map was looked at
    assert publish_result(portal, store, held.result_id, require_approval=False).outcome == "published"
    assert portal.get_user("u00001").status == "published"
    _consistent(portal)
