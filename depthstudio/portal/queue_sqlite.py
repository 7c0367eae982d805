"""SQLite's claim and result rounds: a transaction of a few Core statements, in this process.

SQLite has one writer, so a claim needs no row locks: ``write_transaction`` holds the write lock for the round,
and the pick and the take run under it. The statements are built once (building and hashing a statement per call
was a good part of a claim's cost) and run with a list of parameter sets, one per job.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import DateTime, Engine, Integer, String, and_, bindparam, cast, func, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from depthstudio.portal.engine import write_transaction
from depthstudio.portal.portal_base import upsert_states, utcnow
from depthstudio.portal.queue_rounds import (
    CLAIM_RETURNING,
    GAVE_UP,
    LET_OFF,
    ClaimedJob,
    CurrentPhotos,
    claimable,
    claimed_jobs,
    clear_ahead,
)
from depthstudio.portal.results import NewResult, insert_results
from depthstudio.portal.schema import UsersTable
from depthstudio.portal.tables import attempts, jobs
from depthstudio.portal.vocabulary import AttemptOutcome, JobStatus

_THIS_CLAIM = and_(jobs.c.id == bindparam("b_job"), jobs.c.lease_token == bindparam("b_token"))
_LINK_OPEN = update(jobs).where(_THIS_CLAIM).values(result_id=bindparam("b_result"), updated_at=bindparam("b_now"))
_LINK_DONE = _LINK_OPEN.values(
    status=JobStatus.DONE, lease_owner=None, lease_expires_at=None, error=None, error_kind=None
)
_ATTEMPT_DONE = (
    update(attempts)
    .where(attempts.c.id == bindparam("b_attempt"))
    .values(finished_at=bindparam("b_now"), outcome=AttemptOutcome.DONE, error_kind=None, error=None)
)
_INSERT_ATTEMPTS = attempts.insert().returning(attempts.c.job_id, attempts.c.id)
_INSERT_JOBS = sqlite.insert(jobs).on_conflict_do_nothing().returning(jobs.c.id, jobs.c.user_id)
_FRESH = (
    select(jobs.c.id, jobs.c.lease_token)
    .where(
        jobs.c.id.in_(bindparam("b_ids", expanding=True)),
        jobs.c.lease_token.in_(bindparam("b_tokens", expanding=True)),
        jobs.c.status == JobStatus.RUNNING,
        jobs.c.result_id.is_(None),
    )
    .order_by(jobs.c.id)
)


@functools.cache
def _claim_statements(lane: bool) -> tuple[Any, Any]:
    """The pick (``b_n`` oldest claimable ids) and the take (those ids under ``b_prefix`` + id), with or without a
    lane (``b_batch``)."""
    now = bindparam("b_now", type_=DateTime())
    condition = claimable(now)
    if lane:
        condition = and_(condition, jobs.c.batch == bindparam("b_batch"))
    pick = (
        select(jobs.c.id, jobs.c.status, jobs.c.attempts, jobs.c.max_attempts)
        .where(condition)
        .order_by(jobs.c.id)
        .limit(bindparam("b_n", type_=Integer()))
    )
    take = (
        update(jobs)
        .where(jobs.c.id.in_(bindparam("b_ids", expanding=True)), condition)
        .values(
            status=JobStatus.RUNNING,
            lease_owner=bindparam("b_worker"),
            lease_token=bindparam("b_prefix", type_=String()) + cast(jobs.c.id, String),
            lease_expires_at=bindparam("b_expires", type_=DateTime()),
            attempts=jobs.c.attempts + 1,
            updated_at=now,
        )
        .returning(*CLAIM_RETURNING)
    )
    return pick, take


def _unstarted(conn: Connection, lapsed: list[Any]) -> set[int]:
    """Of these lapsed jobs, those their dead worker held only ahead (never started), unless let off that way
    ``LET_OFF`` times ``max_attempts`` times already."""
    if not lapsed:
        return set()
    ids = [r.id for r in lapsed]
    ahead = set(
        conn.execute(
            select(attempts.c.job_id).where(
                attempts.c.job_id.in_(ids),
                attempts.c.finished_at.is_(None),
                attempts.c.outcome == AttemptOutcome.AHEAD,
            )
        ).scalars()
    )
    if not ahead:
        return set()
    let_off = dict(
        conn.execute(
            select(attempts.c.job_id, func.count())
            .where(attempts.c.job_id.in_(ahead), attempts.c.outcome == AttemptOutcome.UNSTARTED)
            .group_by(attempts.c.job_id)
        ).all()
    )
    return {r.id for r in lapsed if r.id in ahead and let_off.get(r.id, 0) < LET_OFF * r.max_attempts}


class SqliteRounds:
    in_process = True

    def __init__(self, engine: Engine, users: UsersTable, lease: dt.timedelta) -> None:
        self.engine = engine
        self.lease = lease
        self.current_photos = CurrentPhotos(users)

    def now(self) -> Any:
        """This machine's clock: the database is a local file."""
        return utcnow()

    def insert_jobs(self) -> Any:
        return _INSERT_JOBS

    def keep_connections(self) -> None:
        """Nothing to keep: a SQLite connection costs no network wait."""

    def close(self) -> None:
        """Nothing kept."""

    def claim(
        self, worker: str, prefix: str, n: int, batch: str | None, direct: int, started: Sequence[int]
    ) -> list[ClaimedJob]:
        with write_transaction(self.engine) as conn:
            clear_ahead(conn, started)
            rows, attempt_ids = self._take(conn, worker, prefix, n, batch, direct)
            photos = self.current_photos(conn, rows)
        return claimed_jobs(worker, rows, attempt_ids, photos)

    def _take(
        self, conn: Connection, worker: str, prefix: str, n: int, batch: str | None, direct: int
    ) -> tuple[list[Any], dict[int, int]]:
        pick, take = _claim_statements(batch is not None)
        now = utcnow()
        params: dict[str, Any] = {"b_now": now, "b_expires": now + self.lease}
        if batch is not None:
            params["b_batch"] = batch
        found = conn.execute(pick, {**params, "b_n": n}).all()
        unstarted = _unstarted(conn, [r for r in found if r.status == JobStatus.RUNNING])
        if unstarted:  # held only ahead by a worker that died: back uncharged (the take below counts one again)
            conn.execute(
                update(attempts)
                .where(attempts.c.job_id.in_(unstarted), attempts.c.finished_at.is_(None))
                .values(finished_at=now, outcome=AttemptOutcome.UNSTARTED)
            )
            conn.execute(update(jobs).where(jobs.c.id.in_(unstarted)).values(attempts=jobs.c.attempts - 1))
        exhausted = [
            r.id
            for r in found
            if r.status == JobStatus.RUNNING and r.id not in unstarted and r.attempts >= r.max_attempts
        ]
        if exhausted:  # its worker died on every attempt (a poison photo that kills the process): it stops here
            conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(exhausted))
                .values(
                    status=JobStatus.FAILED,
                    error_kind="worker_lost",
                    error=GAVE_UP,
                    lease_owner=None,
                    lease_token=None,
                    lease_expires_at=None,
                    updated_at=utcnow(),
                )
            )
            # Its last attempt ended with that worker's death too: closed, so the failure counts every attempt.
            conn.execute(
                update(attempts)
                .where(attempts.c.job_id.in_(exhausted), attempts.c.finished_at.is_(None))
                .values(finished_at=now, outcome=AttemptOutcome.LOST, error_kind="worker_lost")
            )
        picked = [r.id for r in found if r.id not in exhausted]
        if not picked:
            return [], {}
        rows = conn.execute(take, {**params, "b_ids": picked, "b_worker": worker, "b_prefix": prefix}).all()
        if not rows:
            return [], {}
        opened = utcnow()
        again = [row.id for row in rows if row.attempts > 1]
        if again:  # maybe leases taken over from a dead worker: close their dangling attempts as lost
            conn.execute(
                update(attempts)
                .where(attempts.c.job_id.in_(again), attempts.c.finished_at.is_(None))
                .values(finished_at=opened, outcome=AttemptOutcome.LOST)
            )
        made = conn.execute(
            _INSERT_ATTEMPTS,
            [
                {
                    "job_id": row.id,
                    "worker": worker,
                    "started_at": opened,
                    "outcome": AttemptOutcome.AHEAD if rank >= direct else None,
                }
                for rank, row in enumerate(sorted(rows, key=lambda r: r.id))
            ],
        ).all()
        return rows, dict(made)

    def link(self, held: Sequence[tuple[ClaimedJob, NewResult]]) -> dict[int, int]:
        claims = {job.id: (job, new) for job, new in held}
        with write_transaction(self.engine) as conn:
            tokens = [job.token for job, _ in claims.values()]
            fresh = conn.execute(_FRESH, {"b_ids": list(claims), "b_tokens": tokens}).all()
            linked = [claims[job_id] for job_id, token in fresh if claims[job_id][0].token == token]
            if not linked:
                return {}
            result_ids = insert_results(conn, [(job.user_id, job.id, new) for job, new in linked])
            now = utcnow()
            for publish in (False, True):
                rows = [
                    {"b_job": job.id, "b_token": job.token, "b_result": rid, "b_now": now}
                    for (job, _), rid in zip(linked, result_ids, strict=True)
                    if job.publish == publish
                ]
                if rows:
                    conn.execute(_LINK_OPEN if publish else _LINK_DONE, rows)
            closed = [{"b_attempt": job.attempt_id, "b_now": now} for job, _ in linked if not job.publish]
            if closed:
                conn.execute(_ATTEMPT_DONE, closed)
            upsert_states(
                conn,
                [
                    {"user_id": job.user_id, "job_id": job.id, "result_id": rid, "review_id": None}
                    for (job, _), rid in zip(linked, result_ids, strict=True)
                ],
            )
        return {job.id: rid for (job, _), rid in zip(linked, result_ids, strict=True)}
