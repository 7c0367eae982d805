"""Grouped claims and results: threads that need the database at the same moment share one transaction, and
every claim in it stays fenced by its own token. Races are set up with gates, never with sleeps."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.jobs.grouping import GroupCall
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.job_queue import ClaimedJob, JobQueue
from depthstudio.portal.repository import Portal, utcnow
from depthstudio.portal.results import NewResult
from depthstudio.portal.tables import attempts, jobs, results
from tests.helpers import make_portal, portal_config, set_avatar, tiny_result, wait_for, write_avatars


def _portal(db_url: str, tmp_path: Path, n: int) -> tuple[Portal, list[str]]:
    avatars = write_avatars(tmp_path / "avatars", n)
    make_portal(db_url, avatars)
    return Portal.open(portal_config(db_url, tmp_path)), avatars


def _enqueue(portal: Portal, avatars: list[str], **kw: object) -> JobQueue:
    q = JobQueue(portal, lease_s=3600.0)
    q.enqueue([(f"u{i:05d}", a) for i, a in enumerate(avatars)], **kw)  # type: ignore[arg-type]
    return q


# --- the group call itself ------------------------------------------------------------------------------------


def test_callers_that_arrive_while_a_batch_runs_form_the_next_batch():
    release = threading.Event()
    seen: list[list[int]] = []

    def run(batch: list[tuple[int, Future[int]]]) -> None:
        seen.append([item for item, _ in batch])
        if len(seen) == 1:
            release.wait(30)
        for item, future in batch:
            future.set_result(item * 10)

    group: GroupCall[int, int] = GroupCall(run)
    answers: dict[int, int] = {}
    first = threading.Thread(target=lambda: answers.__setitem__(0, group.call(0)))
    first.start()
    wait_for(lambda: len(seen) == 1, "the first batch to start")
    others = [threading.Thread(target=lambda i=i: answers.__setitem__(i, group.call(i))) for i in range(1, 6)]
    for t in others:
        t.start()
    wait_for(lambda: group.waiting == 5, "five callers behind the first batch")
    release.set()
    for t in [first, *others]:
        t.join(30)
    assert seen[0] == [0] and sorted(seen[1]) == [1, 2, 3, 4, 5] and len(seen) == 2
    assert answers == {i: i * 10 for i in range(6)}
    assert group.sizes == Counter({1: 1, 5: 1})


def test_a_batch_that_fails_as_a_whole_fails_each_of_its_callers_and_the_next_batch_still_runs():
    calls = 0

    def run(batch: list[tuple[int, Future[int]]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database away")
        for item, future in batch:
            future.set_result(item)

    group: GroupCall[int, int] = GroupCall(run)
    with pytest.raises(RuntimeError, match="database away"):
        group.call(1)
    assert group.call(2) == 2


# --- claims -----------------------------------------------------------------------------------------------


def test_claim_many_takes_at_most_n_jobs_each_under_its_own_token(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 5)
    q = _enqueue(portal, avatars)
    first, second = q.claim_many("w", 3), q.claim_many("w", 3)
    assert [len(first), len(second)] == [3, 2]  # PostgreSQL may rerun a LIMIT subquery inside an UPDATE
    assert q.claim_many("w", 3) == []
    claimed = first + second
    assert len({j.token for j in claimed}) == 5 and len({j.attempt_id for j in claimed}) == 5
    with portal.engine.connect() as conn:
        on_rows = dict(conn.execute(select(jobs.c.id, jobs.c.lease_token)).all())
        assert conn.execute(select(func.count()).select_from(attempts)).scalar_one() == 5
    assert on_rows == {j.id: j.token for j in claimed}


def test_a_repeated_claim_after_a_lost_acknowledgement_returns_the_same_jobs_and_claims_no_more(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 4)
    q = _enqueue(portal, avatars)
    # What retry_on_disconnect does when the first commit landed but its acknowledgement was lost: the same call,
    # with the same token prefix, again.
    tried: list[bool] = []
    first = q._claim_many("w", "p" * 20, 2, None, tried)
    again = q._claim_many("w", "p" * 20, 2, None, tried)
    assert [(j.id, j.token, j.attempt_id) for j in again] == [(j.id, j.token, j.attempt_id) for j in first]
    with portal.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(attempts)).scalar_one() == 2
        assert conn.execute(select(func.count()).where(jobs.c.status == "running")).scalar_one() == 2
        assert set(conn.execute(select(jobs.c.attempts)).scalars()) == {0, 1}


def test_a_claim_carries_each_users_current_photo(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 3)
    q = _enqueue(portal, avatars[:2])
    set_avatar(db_url, "u00000", avatars[2])  # a new upload after the job was queued
    set_avatar(db_url, "u00001", None)  # the photo was removed
    by_user = {j.user_id: j for j in q.claim_many("w", 2)}
    assert by_user["u00000"].avatar_url == avatars[2] and not by_user["u00000"].no_photo
    assert by_user["u00001"].no_photo
    with portal.engine.connect() as conn:
        row_avatar = conn.execute(select(jobs.c.avatar_url).where(jobs.c.user_id == "u00000")).scalar_one()
    assert row_avatar == avatars[2]


def test_a_job_whose_worker_died_on_every_attempt_is_failed_when_a_claim_reaches_it(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 2)
    q = JobQueue(portal, lease_s=0.0)
    q.enqueue([("u00000", avatars[0])], max_attempts=1)
    q.enqueue([("u00001", avatars[1])])
    assert [j.user_id for j in q.claim_many("dead", 1)] == ["u00000"]  # that worker died; its lease lapsed
    assert {j.user_id for j in q.claim_many("w", 2)} == {"u00001"}
    assert portal.get_user("u00000").error_kind == "worker_lost"  # type: ignore[union-attr]


def _lapse(portal: Portal) -> None:
    """The worker holding every running job died: its leases lapse."""
    with portal.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.status == "running").values(lease_expires_at=utcnow()))


def _outcomes(portal: Portal, job_id: int) -> list[str | None]:
    with portal.engine.connect() as conn:
        stmt = select(attempts.c.outcome).where(attempts.c.job_id == job_id).order_by(attempts.c.id)
        return list(conn.execute(stmt).scalars())


def test_a_death_is_charged_to_the_jobs_handed_to_threads_not_to_those_claimed_ahead(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 3)
    q = _enqueue(portal, avatars, max_attempts=1)
    direct, *ahead = q.claim_many("dead", 3, direct=1)  # one thread started; two held for the next threads
    _lapse(portal)
    taken = q.claim_many("w", 3)
    # The started one ran out of attempts on that death; the two never started are taken again, uncharged.
    assert sorted(j.id for j in taken) == sorted(j.id for j in ahead)
    assert all(j.attempts == 1 for j in taken)
    assert portal.get_user(direct.user_id).error_kind == "worker_lost"  # type: ignore[union-attr]
    assert _outcomes(portal, direct.id) == ["lost"]
    assert _outcomes(portal, ahead[0].id) == ["unstarted", None]  # the dead worker's attempt closed, not counted


def test_a_job_held_ahead_that_a_thread_started_is_charged_once_the_next_round_says_so(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 4)
    q = _enqueue(portal, avatars, max_attempts=1)
    _, by_claim, by_beat = q.claim_many("dead", 3, direct=1)
    q.claim_many("dead", 1, started=[by_claim.attempt_id])  # a thread took it; the next claim round carried that
    q.heartbeat_many([by_beat], [by_beat.attempt_id])  # ... or the next heartbeat
    _lapse(portal)
    assert q.claim_many("w", 4) == []  # all four had started: each death charged, each out of attempts
    assert {u.error_kind for u in portal.list_users()} == {"worker_lost"}


def test_a_job_let_off_as_unstarted_too_often_is_charged_after_all(db_url, tmp_path):
    """A photo that kills its worker before the start is recorded must still run out of attempts."""
    portal, avatars = _portal(db_url, tmp_path, 1)
    q = _enqueue(portal, avatars, max_attempts=1)
    seen = []
    while claimed := q.claim_many("dead", 1, direct=0):  # each time only held ahead, as far as the queue knows
        seen.append(claimed[0].attempts)
        _lapse(portal)
        assert len(seen) < 10
    assert seen == [1, 1, 1, 1]  # let off three times (LET_OFF times max_attempts), then charged: given up
    assert portal.get_user("u00000").error_kind == "worker_lost"  # type: ignore[union-attr]
    assert _outcomes(portal, claimed_id(portal)) == ["unstarted", "unstarted", "unstarted", "lost"]  # all closed


def claimed_id(portal: Portal) -> int:
    with portal.engine.connect() as conn:
        return conn.execute(select(jobs.c.id)).scalar_one()


# --- results and heartbeats -------------------------------------------------------------------------------------


def _steal(portal: Portal, job: ClaimedJob) -> ClaimedJob:
    """Let ``job``'s lease lapse and have another worker take it (the oldest claimable job)."""
    with portal.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job.id).values(lease_expires_at=utcnow()))
    thief = JobQueue(portal).claim("thief")
    assert thief is not None and thief.id == job.id
    return thief


def test_a_claim_that_lost_its_lease_is_fenced_out_of_a_shared_transaction(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 3)
    q = _enqueue(portal, avatars)
    claimed = q.claim_many("w", 3)
    thief = _steal(portal, claimed[0])
    done = [(job, tiny_result(job.avatar_url)) for job in claimed]
    answers = q.complete_many(done)
    assert answers[0] is None and None not in answers[1:]
    assert q.complete_many(done) == answers  # a repeat after a lost acknowledgement: the same answers
    with portal.engine.connect() as conn:
        assert set(conn.execute(select(results.c.job_id)).scalars()) == {claimed[1].id, claimed[2].id}
        owner = conn.execute(select(jobs.c.lease_token, jobs.c.status).where(jobs.c.id == thief.id)).one()
    assert tuple(owner) == (thief.token, "running")
    assert q.complete(thief, tiny_result(thief.avatar_url)) is not None  # the new owner finishes undisturbed


def test_heartbeat_many_renews_only_the_claims_still_held(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 3)
    q = _enqueue(portal, avatars)
    claimed = q.claim_many("w", 3)
    _steal(portal, claimed[1])
    assert q.heartbeat_many(claimed) == {claimed[0].id, claimed[2].id}


def test_one_bad_result_among_many_fails_its_user_alone(db_url, tmp_path):
    portal, avatars = _portal(db_url, tmp_path, 3)
    _enqueue(portal, avatars)
    runner = BulkRunner(portal, SyntheticBackend(), None, policy=portal.config.fetch.policy())
    claimed = runner.queue.claim_many(runner.worker_id, 3)
    bad = replace(tiny_result(avatars[1]), png8=None)  # type: ignore[arg-type]
    news: list[NewResult] = [tiny_result(avatars[0]), bad, tiny_result(avatars[2])]
    batch: list[tuple[tuple[ClaimedJob, NewResult], Future[int | None]]] = [
        ((job, new), Future()) for job, new in zip(claimed, news, strict=True)
    ]
    runner._complete_round(batch)  # what one batch of the runner's completions does
    assert isinstance(batch[1][1].exception(), IntegrityError)
    assert batch[0][1].result() is not None and batch[2][1].result() is not None
    with portal.engine.connect() as conn:
        assert set(conn.execute(select(results.c.user_id)).scalars()) == {"u00000", "u00002"}


class _HeldFirstBatch(JobQueue):
    """Holds the runner's first batch of results until every other thread waits behind it with its own."""

    runner: BulkRunner

    def complete_many(self, done: list[tuple[ClaimedJob, NewResult]]) -> list[int | None]:
        if sum(self.runner.completions.sizes.values()) == 1:
            wait_for(lambda: self.runner.completions.waiting == self.runner.concurrency - 1, "the other results")
        return super().complete_many(done)


def test_the_results_of_sixteen_threads_are_recorded_in_two_transactions_each_claim_fenced(db_url, tmp_path):
    portal, _ = _portal(db_url, tmp_path, 16)
    job = GenerateMissingJob(portal, SyntheticBackend(), None, portal.config, concurrency=16)
    held = _HeldFirstBatch(portal, lease_s=job.runner.lease_s)
    held.runner = job.runner
    job.runner.queue = held
    summary = job.run()
    assert summary.ok and summary.progress.done == 16
    assert job.runner.completions.sizes == Counter({1: 1, 15: 1})
    with portal.engine.connect() as conn:
        done = conn.execute(select(jobs.c.id, jobs.c.status, jobs.c.result_id, jobs.c.lease_token)).all()
        linked = dict(conn.execute(select(results.c.id, results.c.job_id)).all())
        outcomes = conn.execute(select(attempts.c.outcome)).scalars().all()
    assert {status for _, status, _, _ in done} == {"done"} and len({token for *_, token in done}) == 16
    assert {rid: jid for jid, _, rid, _ in done} == linked and outcomes == ["done"] * 16
    assert portal.status_counts()["generated"] == 16
