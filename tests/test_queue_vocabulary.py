"""The words the queue stores are the vocabulary's (portal/vocabulary.py), on both databases: PostgreSQL's rounds
write them from SQL text, SQLite's from Core statements, so a word misspelt in either shows here."""

from __future__ import annotations

from sqlalchemy import select

from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import attempts, jobs
from depthstudio.portal.vocabulary import AttemptOutcome, JobStatus
from tests.helpers import make_portal, portal_config, tiny_result, write_avatars


def _words(portal: Portal) -> tuple[set[str], set[str | None]]:
    with portal.engine.connect() as conn:
        statuses = set(conn.execute(select(jobs.c.status)).scalars())
        outcomes = set(conn.execute(select(attempts.c.outcome)).scalars())
    return statuses, outcomes


def test_every_job_status_and_attempt_outcome_the_queue_writes_is_a_word_of_the_vocabulary(db_url, tmp_path):
    avatars = write_avatars(tmp_path / "avatars", 6)
    make_portal(db_url, avatars)
    portal = Portal.open(portal_config(db_url, tmp_path))
    queue = JobQueue(portal, lease_s=-1.0)  # every lease has lapsed when taken: as if each worker died at once
    queue.enqueue([(f"u{i:05d}", a) for i, a in enumerate(avatars)], max_attempts=2)
    queue.claim_many("w1", 3, direct=1)  # u0 to a thread, u1 and u2 held ahead
    statuses, outcomes = _words(portal)
    taken = {job.user_id: job for job in queue.claim_many("w2", 6)}  # u0's attempt lost, u1's and u2's unstarted
    assert len(taken) == 6
    assert queue.complete(taken["u00000"], tiny_result(taken["u00000"].avatar_url)) is not None
    assert queue.fail(taken["u00001"], kind="timeout", message="t", retry_in=0.0) == JobStatus.QUEUED
    assert queue.fail(taken["u00002"], kind="corrupt", message="c", retry_in=None) == JobStatus.FAILED
    queue.release(taken["u00003"])
    queue.cancel_queued()
    later_statuses, later_outcomes = _words(portal)
    assert statuses | later_statuses == set(JobStatus)
    assert outcomes | later_outcomes == {*AttemptOutcome, None}
    portal.close()
