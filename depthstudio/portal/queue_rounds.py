"""The part of the job queue that differs by database, behind one Protocol, and what both implementations share.

``JobQueue`` (``portal.job_queue``) holds the dialect-free logic: fencing, heartbeats, failures, the retry of a
claim whose acknowledgement was lost. A claim round and a result round are where the databases part ways: SQLite
runs them as transactions of a few Core statements in this process (``portal.queue_sqlite``); PostgreSQL as ONE
statement each on a kept connection (``portal.queue_postgres``). The queue picks one ``QueueRounds`` at
construction; nothing after that asks which database it is.

The condition that makes a job claimable is written here once (``claimable``); PostgreSQL's statement text embeds
the same expression, compiled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy.engine import Connection

from depthstudio.portal.results import NewResult
from depthstudio.portal.schema import UsersTable
from depthstudio.portal.tables import attempts, jobs
from depthstudio.portal.vocabulary import AttemptOutcome, JobStatus


@dataclass(frozen=True)
class ClaimedJob:
    """A claim on a queued job: what a worker holds while it works on one user."""

    id: int
    user_id: str
    avatar_url: str
    publish: bool
    attempts: int  # including this one
    max_attempts: int
    worker: str
    attempt_id: int
    result_id: int | None = None  # set when an earlier attempt generated the map but did not finish publishing
    token: str = ""  # this claim's fencing token, as written on the job row
    no_photo: bool = False  # the user had no photo (or no longer existed) when the job was claimed


# the error of a job whose worker died on every attempt, written by both claim rounds
GAVE_UP = "the worker processing this user stopped (crash or kill) on every attempt; giving up"
# A job let off uncharged LET_OFF times max_attempts times is charged anyway: a photo that kills its worker within
# moments of being started (before the mark is cleared) must still run out of attempts, not circle forever. Not
# max_attempts alone: under repeated kills the oldest jobs are the ones a new worker claims ahead again and again.
LET_OFF = 3

# What a claim hands back per job, besides its attempt (both rounds return these columns).
CLAIM_RETURNING = (
    jobs.c.id,
    jobs.c.user_id,
    jobs.c.avatar_url,
    jobs.c.publish,
    jobs.c.attempts,
    jobs.c.max_attempts,
    jobs.c.result_id,
    jobs.c.lease_token,
)


def claimable(now: Any, *, backing_off: bool = False) -> ColumnElement[bool]:
    """A job a claim may take at ``now``: queued with its retry backoff over, or running under a lease that lapsed
    (its worker died). ``backing_off``: queued jobs still waiting out their backoff count too (a run that waits
    for them, a run that adopts them)."""
    queued: ColumnElement[bool] = jobs.c.status == JobStatus.QUEUED
    if not backing_off:
        queued = and_(queued, or_(jobs.c.not_before.is_(None), jobs.c.not_before <= now))
    return or_(queued, and_(jobs.c.status == JobStatus.RUNNING, jobs.c.lease_expires_at < now))


def clear_ahead(conn: Connection, started: Sequence[int]) -> None:
    """Jobs held ahead that a thread has started: from now on a death of their worker is charged to them."""
    if started:
        conn.execute(
            update(attempts)
            .where(
                attempts.c.id.in_(list(started)),
                attempts.c.outcome == AttemptOutcome.AHEAD,
                attempts.c.finished_at.is_(None),
            )
            .values(outcome=None)
        )


class CurrentPhotos:
    """The avatars the users of claimed jobs have now, read in the claim's transaction; a job that will generate is
    pointed at its user's current photo (the compare-and-set at publish covers later changes)."""

    def __init__(self, users: UsersTable) -> None:
        self.users = users
        self._select = select(users.id, users.avatar).where(users.id.in_(bindparam("b_ids", expanding=True)))

    def __call__(self, conn: Connection, rows: Sequence[Any]) -> dict[str, str]:
        generating = {row.user_id: row for row in rows if row.result_id is None}
        if not generating:
            return {}
        found = conn.execute(self._select, {"b_ids": [self.users.portal_id(uid) for uid in generating]}).all()
        photos = {str(uid): avatar for uid, avatar in found if avatar}
        for uid, avatar in photos.items():
            row = generating[uid]
            if avatar != row.avatar_url:
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == row.id, jobs.c.lease_token == row.lease_token)
                    .values(avatar_url=avatar)
                )
        return photos


def claimed_jobs(
    worker: str, rows: Sequence[Any], attempt_ids: dict[int, int], photos: dict[str, str]
) -> list[ClaimedJob]:
    """The claims of the rows a claim round took, oldest job first."""
    return [
        ClaimedJob(
            id=row.id,
            user_id=row.user_id,
            avatar_url=photos.get(row.user_id) or row.avatar_url,
            publish=bool(row.publish),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            worker=worker,
            attempt_id=attempt_ids[row.id],
            result_id=row.result_id,
            token=row.lease_token,
            no_photo=row.result_id is None and not photos.get(row.user_id),
        )
        for row in sorted(rows, key=lambda r: r.id)
    ]


class QueueRounds(Protocol):
    """One database's claim and result rounds, its clock, and its jobs insert."""

    # The database runs in this process (SQLite): a round is this process's CPU work, not a wait on a server.
    in_process: bool

    def now(self) -> Any:
        """The clock leases are measured by, as a value or SQL expression (naive UTC)."""
        ...

    def insert_jobs(self) -> Any:
        """The jobs insert that skips a user with an active job (the partial unique index), returning
        (id, user_id) of the rows made; run with a list of rows."""
        ...

    def claim(
        self, worker: str, prefix: str, n: int, batch: str | None, direct: int, started: Sequence[int]
    ) -> list[ClaimedJob]:
        """Take up to ``n`` of the oldest claimable jobs (of ``batch`` only, when given) in one transaction, each
        under ``prefix`` + its id; the first ``direct`` go to threads now, the rest are held ahead
        (``AttemptOutcome.AHEAD``); ``started``: the attempts of jobs held ahead to unmark."""
        ...

    def link(self, held: Sequence[tuple[ClaimedJob, NewResult]]) -> dict[int, int]:
        """Record each result whose claim still holds its job (one job each) in one transaction; {job: result}."""
        ...

    def keep_connections(self) -> None:
        """Keep the rounds' connections between rounds (for a run), until ``close``."""
        ...

    def close(self) -> None:
        """Give kept connections back; later rounds take theirs from the pool again."""
        ...
