"""The job queue: a table in the portal database, shared by in-process runners and workers on other machines.

Claiming picks ids with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (workers never block each other; on
SQLite the transaction holds the one write lock) and takes them in the same transaction. A claim is a lease: the
worker renews it with a heartbeat; a job whose lease expired (its worker died) is claimable again. Every claim
writes its own fencing token on the job row, and every state change (heartbeat, result, failure, release) is
conditional on that token: two claims of one job (even by threads of one runner, which share a worker id) never
both pass, so a worker that lost its lease can never overwrite or undo the work of the one that took over. Lease
times come from the database server's clock on PostgreSQL (workers on several machines compare against one clock).
Claims, results and heartbeats come in batches (``claim_many``, ``complete_many``, ``heartbeat_many``): a runner's
threads that need the database at the same moment share one transaction, each claim still fenced on its own.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import DateTime, Integer, Interval, String, and_, bindparam, cast, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from depthstudio.jobs import queue_pg
from depthstudio.jobs.claims import ClaimedJob as ClaimedJob  # re-exported: the queue's interface
from depthstudio.portal.base import upsert_states
from depthstudio.portal.engine import retry_on_disconnect, write_transaction, writer
from depthstudio.portal.repository import Portal, utcnow
from depthstudio.portal.results import NewResult as NewResult  # re-exported: what complete() takes
from depthstudio.portal.results import insert_result as insert_result
from depthstudio.portal.results import insert_results
from depthstudio.portal.results import record_result as record_result
from depthstudio.portal.tables import (
    ACTIVE,
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    attempts,
    jobs,
    results,
    user_state,
)

# The queue's hot statements, built once (building and hashing a statement per call was a good part of a claim's
# cost); executed with a list of parameter sets, one per job.
_CLAIM_RETURNING = (
    jobs.c.id,
    jobs.c.user_id,
    jobs.c.avatar_url,
    jobs.c.publish,
    jobs.c.attempts,
    jobs.c.max_attempts,
    jobs.c.result_id,
    jobs.c.lease_token,
)
_PREFIX_LEN = 20  # a claim's random token prefix; with the job id the token fits the 32-character column
_THIS_CLAIM = and_(jobs.c.id == bindparam("b_job"), jobs.c.lease_token == bindparam("b_token"))
_LINK_OPEN = update(jobs).where(_THIS_CLAIM).values(result_id=bindparam("b_result"), updated_at=bindparam("b_now"))
_LINK_DONE = _LINK_OPEN.values(status=DONE, lease_owner=None, lease_expires_at=None, error=None, error_kind=None)
_ATTEMPT_DONE = (
    update(attempts)
    .where(attempts.c.id == bindparam("b_attempt"))
    .values(finished_at=bindparam("b_now"), outcome="done", error_kind=None, error=None)
)
_INSERT_ATTEMPTS = attempts.insert().returning(attempts.c.job_id, attempts.c.id)


def _clear_ahead(conn: Connection, started: list[int]) -> None:
    """Jobs held ahead that a thread has started: from now on a death of their worker is charged to them."""
    if started:
        conn.execute(
            update(attempts)
            .where(attempts.c.id.in_(started), attempts.c.outcome == queue_pg.AHEAD, attempts.c.finished_at.is_(None))
            .values(outcome=None)
        )


def _unstarted(conn: Connection, lapsed: list[Any]) -> set[int]:
    """Of these lapsed jobs, those their dead worker held only ahead (never started), unless let off that way
    ``LET_OFF`` times ``max_attempts`` times already (see ``queue_pg.AHEAD``)."""
    if not lapsed:
        return set()
    ids = [r.id for r in lapsed]
    ahead = set(
        conn.execute(
            select(attempts.c.job_id).where(
                attempts.c.job_id.in_(ids), attempts.c.finished_at.is_(None), attempts.c.outcome == queue_pg.AHEAD
            )
        ).scalars()
    )
    if not ahead:
        return set()
    let_off = dict(
        conn.execute(
            select(attempts.c.job_id, func.count())
            .where(attempts.c.job_id.in_(ahead), attempts.c.outcome == queue_pg.UNSTARTED)
            .group_by(attempts.c.job_id)
        ).all()
    )
    return {r.id for r in lapsed if r.id in ahead and let_off.get(r.id, 0) < queue_pg.LET_OFF * r.max_attempts}


_FRESH = (
    select(jobs.c.id, jobs.c.lease_token)
    .where(
        jobs.c.id.in_(bindparam("b_ids", expanding=True)),
        jobs.c.lease_token.in_(bindparam("b_tokens", expanding=True)),
        jobs.c.status == RUNNING,
        jobs.c.result_id.is_(None),
    )
    .order_by(jobs.c.id)
    .with_for_update()
)


@functools.cache
def _claim_statements(dialect: str, lane: bool) -> tuple[Any, Any]:
    """The pick (``b_n`` oldest claimable ids, locked, others' locks skipped) and the take (those ids under
    ``b_prefix`` + id), for one dialect's clock and with or without a lane (``b_batch``)."""
    if dialect == "postgresql":
        now: Any = func.timezone("UTC", func.now()).cast(DateTime)
        expires: Any = now + bindparam("b_lease", type_=Interval())
    else:
        now, expires = bindparam("b_now", type_=DateTime()), bindparam("b_expires", type_=DateTime())
    claimable = or_(
        and_(jobs.c.status == QUEUED, or_(jobs.c.not_before.is_(None), jobs.c.not_before <= now)),
        and_(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now),
    )
    if lane:
        claimable = and_(claimable, jobs.c.batch == bindparam("b_batch"))
    pick = (
        select(jobs.c.id, jobs.c.status, jobs.c.attempts, jobs.c.max_attempts)
        .where(claimable)
        .order_by(jobs.c.id)
        .limit(bindparam("b_n", type_=Integer()))
        .with_for_update(skip_locked=True)
    )
    take = (
        update(jobs)
        .where(jobs.c.id.in_(bindparam("b_ids", expanding=True)), claimable)
        .values(
            status=RUNNING,
            lease_owner=bindparam("b_worker"),
            lease_token=bindparam("b_prefix", type_=String()) + cast(jobs.c.id, String),
            lease_expires_at=expires,
            attempts=jobs.c.attempts + 1,
            updated_at=bindparam("b_updated", type_=DateTime()),
        )
        .returning(*_CLAIM_RETURNING)
    )
    return pick, take


@functools.cache
def _enqueue_sql(dialect: str) -> Any:
    """The jobs insert (a user with an active job is skipped by the partial unique index), built once and run
    with a list of rows (insertmanyvalues): a multi-VALUES statement built per chunk cost ~0.45 s to compile
    for 1,000 users, most of a run's start."""
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(jobs).on_conflict_do_nothing()
    return ins.returning(jobs.c.id, jobs.c.user_id)


def boot_id() -> str:
    """This machine's current boot (Linux ``boot_id``; else the machine id, else the MAC-derived node id).

    A worker id carries it, so "the process is dead" is only concluded for PIDs of this very machine and boot:
    two machines (or containers) that share a host name never expire each other's leases.
    """
    for path in ("/proc/sys/kernel/random/boot_id", "/etc/machine-id"):
        try:
            with open(path, encoding="ascii") as fh:
                value = fh.read().strip().replace("-", "")
        except OSError:
            continue
        if value:
            return value[:12]
    return f"{uuid.getnode():012x}"


def _pid_alive(owner: str) -> bool:
    try:
        pid = int(owner.split(":")[1])
    except (IndexError, ValueError):
        return True  # not ours to judge
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobQueue:
    def __init__(self, portal: Portal, *, lease_s: float = 120.0) -> None:
        self.portal = portal
        self.engine = portal.engine
        self.lease = dt.timedelta(seconds=lease_s)
        self.rounds = queue_pg.KeptConnections(self.engine)  # PostgreSQL's one-statement rounds
        u = portal.users
        self._photos = select(u.id, u.avatar).where(u.id.in_(bindparam("b_ids", expanding=True)))

    # --- producing ----------------------------------------------------------------------------------------

    def enqueue(
        self,
        users: Iterable[tuple[str, str]],
        *,
        publish: bool = False,
        max_attempts: int = 3,
        batch: str | None = None,
    ) -> int:
        """Queue (user id, avatar) pairs; a user that already has an active job is skipped, not queued twice."""
        now = utcnow()
        rows = [
            {
                "user_id": uid,
                "status": QUEUED,
                "avatar_url": avatar,
                "publish": publish,
                "attempts": 0,
                "max_attempts": max_attempts,
                "batch": batch,
                "created_at": now,
                "updated_at": now,
            }
            for uid, avatar in users
        ]
        return sum(self._enqueue_chunk(rows[start : start + 500]) for start in range(0, len(rows), 500))

    @retry_on_disconnect
    def _enqueue_chunk(self, chunk: list[dict[str, Any]]) -> int:
        """Repeatable: a user whose job a lost-acknowledgement commit already created is skipped by the index."""
        with writer(self.engine).begin() as conn:
            self._carry_unpublished_results(conn, chunk)
            created = conn.execute(_enqueue_sql(conn.dialect.name), chunk).all()
            upsert_states(conn, [{"user_id": uid, "job_id": job_id} for job_id, uid in created])
            batch = chunk[0]["batch"] if chunk else None
            skipped = {row["user_id"] for row in chunk} - {uid for _, uid in created}
            if batch is not None and skipped:
                # A user's job left behind by a run that died (still queued, or its lease lapsed) joins this
                # run's lane: the run that asks for the user takes it over. A job held by a live worker stays there.
                now = self._now(conn)
                conn.execute(
                    update(jobs)
                    .where(
                        jobs.c.user_id.in_(sorted(skipped)),
                        or_(jobs.c.status == QUEUED, and_(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now)),
                    )
                    .values(batch=batch)
                )
        return len(created)

    @staticmethod
    def _carry_unpublished_results(conn: Connection, chunk: list[dict[str, Any]]) -> None:
        """A user whose last job made the map for this very photo but failed to publish it gets that map back:
        the new job only publishes, instead of paying the backend for the same map again."""
        avatars = {row["user_id"]: row["avatar_url"] for row in chunk}
        carried = conn.execute(
            select(jobs.c.user_id, results.c.id, results.c.avatar_url)
            .select_from(
                user_state.join(jobs, jobs.c.id == user_state.c.job_id).join(results, results.c.id == jobs.c.result_id)
            )
            .where(user_state.c.user_id.in_(list(avatars)), jobs.c.status == FAILED, results.c.published_url.is_(None))
        ).all()
        found = {uid: rid for uid, rid, avatar in carried if avatars.get(uid) == avatar}
        for row in chunk:
            row["result_id"] = found.get(row["user_id"])

    # --- consuming ----------------------------------------------------------------------------------------

    def _now(self, conn: Connection) -> Any:
        """The database server's clock (naive UTC) on PostgreSQL; this machine's on SQLite (a local file)."""
        if conn.dialect.name == "postgresql":
            return func.timezone("UTC", func.now()).cast(DateTime)
        return utcnow()

    def claim(self, worker: str, *, batch: str | None = None) -> ClaimedJob | None:
        """Take the oldest claimable job (of ``batch`` only, when given) under a fresh fencing token."""
        claimed = self.claim_many(worker, 1, batch=batch)
        return claimed[0] if claimed else None

    def claim_many(
        self, worker: str, n: int, *, batch: str | None = None, direct: int | None = None, started: Sequence[int] = ()
    ) -> list[ClaimedJob]:
        """Take up to ``n`` of the oldest claimable jobs in one transaction, each under its own fencing token.

        The tokens are this claim's random prefix and the job id, so each claim of each job is told apart. A retry
        after a lost commit acknowledgement finds the jobs already carrying the prefix and returns them, instead
        of leaving a second claim behind. Each job comes back with the photo its user has now (the job row is
        updated to it), or ``no_photo``.

        Only the first ``direct`` (all by default) go to a thread now; the rest are held ahead, their attempts marked
        so that the worker's death is not charged to them. ``started``: attempt ids of jobs held ahead that a thread
        has started since; their marks are cleared in this claim's transaction (no write of their own).
        """
        tried: list[bool] = []
        n = max(1, n)
        marks = (n if direct is None else direct, list(started))
        return self._claim_many(worker, uuid.uuid4().hex[:_PREFIX_LEN], n, batch, tried, marks)

    @retry_on_disconnect
    def _claim_many(
        self,
        worker: str,
        prefix: str,
        n: int,
        batch: str | None,
        tried: list[bool],
        marks: tuple[int, list[int]] | None = None,
    ) -> list[ClaimedJob]:
        marks = marks or (n, [])  # (how many go to threads now, the started attempts to unmark)
        if tried:  # a repeat: maybe the first try committed and only its acknowledgement was lost
            again = self._claimed_before(worker, prefix)
            if again:
                return again
        tried.append(True)
        if self.engine.dialect.name == "postgresql":
            with self.rounds.connect() as conn:
                rows = queue_pg.claim(
                    conn,
                    self.portal.users,
                    worker=worker,
                    prefix=prefix,
                    n=n,
                    batch=batch,
                    lease=self.lease,
                    direct=marks[0],
                    started=marks[1],
                )
            photos = {row.user_id: row.avatar_url for row in rows if row.result_id is None and not row.no_photo}
            return self._claimed(worker, rows, {row.id: row.attempt_id for row in rows}, photos)
        with write_transaction(self.engine) as conn:
            _clear_ahead(conn, marks[1])
            rows, attempt_ids = self._take(conn, worker, prefix, n, batch, marks[0])
            photos = self._current_photos(conn, rows)
        return self._claimed(worker, rows, attempt_ids, photos)

    def _claimed_before(self, worker: str, prefix: str) -> list[ClaimedJob]:
        """The jobs an earlier try of this very claim took (its token prefix), with their attempts."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*_CLAIM_RETURNING).where(jobs.c.lease_token.startswith(prefix), jobs.c.status == RUNNING)
            ).all()
            if not rows:
                return []
            attempt_ids = dict(
                conn.execute(
                    select(attempts.c.job_id, func.max(attempts.c.id))
                    .where(attempts.c.job_id.in_([r.id for r in rows]), attempts.c.worker == worker)
                    .group_by(attempts.c.job_id)
                ).all()
            )
            photos = self._current_photos(conn, rows)
            conn.commit()
        return self._claimed(worker, rows, attempt_ids, photos)

    @staticmethod
    def _claimed(worker: str, rows: list[Any], attempt_ids: dict[int, int], photos: dict[str, str]) -> list[ClaimedJob]:
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

    def _take(
        self, conn: Connection, worker: str, prefix: str, n: int, batch: str | None, direct: int
    ) -> tuple[list[Any], dict[int, int]]:
        pick, take = _claim_statements(conn.dialect.name, batch is not None)
        now = utcnow()
        params: dict[str, Any] = {"b_batch": batch} if batch is not None else {}
        if conn.dialect.name == "postgresql":
            params["b_lease"] = self.lease
        else:
            params.update(b_now=now, b_expires=now + self.lease)
        # The ids first, then the update: PostgreSQL may run an ``IN (SELECT … LIMIT n)`` subquery more than
        # once inside an UPDATE, and so claim more than n jobs.
        found = conn.execute(pick, {**params, "b_n": n}).all()
        unstarted = _unstarted(conn, [r for r in found if r.status == RUNNING])
        if unstarted:  # held only ahead by a worker that died: back uncharged (the take below counts one again)
            conn.execute(
                update(attempts)
                .where(attempts.c.job_id.in_(unstarted), attempts.c.finished_at.is_(None))
                .values(finished_at=now, outcome=queue_pg.UNSTARTED)
            )
            conn.execute(update(jobs).where(jobs.c.id.in_(unstarted)).values(attempts=jobs.c.attempts - 1))
        exhausted = [
            r.id for r in found if r.status == RUNNING and r.id not in unstarted and r.attempts >= r.max_attempts
        ]
        if exhausted:  # its worker died on every attempt (a poison photo that kills the process): it stops here
            conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(exhausted))
                .values(
                    status=FAILED,
                    error_kind="worker_lost",
                    error=queue_pg.GAVE_UP,
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
                .values(finished_at=now, outcome="lost", error_kind="worker_lost")
            )
        picked = [r.id for r in found if r.id not in exhausted]
        if not picked:
            return [], {}
        rows = conn.execute(
            take, {**params, "b_ids": picked, "b_worker": worker, "b_prefix": prefix, "b_updated": now}
        ).all()
        if not rows:
            return [], {}
        started = utcnow()
        again = [row.id for row in rows if row.attempts > 1]
        if again:  # maybe leases taken over from a dead worker: close their dangling attempts as lost
            conn.execute(
                update(attempts)
                .where(attempts.c.job_id.in_(again), attempts.c.finished_at.is_(None))
                .values(finished_at=started, outcome="lost")
            )
        made = conn.execute(
            _INSERT_ATTEMPTS,
            [
                {
                    "job_id": row.id,
                    "worker": worker,
                    "started_at": started,
                    "outcome": queue_pg.AHEAD if rank >= direct else None,
                }
                for rank, row in enumerate(sorted(rows, key=lambda r: r.id))
            ],
        ).all()
        return rows, dict(made)

    def _current_photos(self, conn: Connection, rows: list[Any]) -> dict[str, str]:
        """The avatars the claimed jobs' users have now, in the claim's transaction; a job that will generate is
        pointed at its user's current photo (the compare-and-set at publish covers later changes)."""
        generating = {row.user_id: row for row in rows if row.result_id is None}
        if not generating:
            return {}
        u = self.portal.users
        found = conn.execute(self._photos, {"b_ids": [u.portal_id(uid) for uid in generating]}).all()
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

    def _held(self, job: ClaimedJob) -> Any:
        """This very claim still holds the job: its fencing token, not the (shared) worker id, decides."""
        return and_(jobs.c.id == job.id, jobs.c.status == RUNNING, jobs.c.lease_token == job.token)

    def heartbeat(self, job: ClaimedJob) -> bool:
        """Extend the lease; False means it was lost (another worker took the job): stop working on it."""
        return job.id in self.heartbeat_many([job])

    @retry_on_disconnect
    def heartbeat_many(self, held: list[ClaimedJob], started: Sequence[int] = ()) -> set[int]:
        """Extend the leases of these claims in one statement; returns the ids of the jobs still held.

        ``started``: as for ``claim_many``, the attempts of jobs held ahead that a thread has started since."""
        if not held:
            return set()
        tokens = {job.token: job.id for job in held}
        with write_transaction(self.engine) as conn:
            _clear_ahead(conn, list(started))
            renewed = conn.execute(
                update(jobs)
                .where(
                    jobs.c.id.in_(list(tokens.values())), jobs.c.status == RUNNING, jobs.c.lease_token.in_(list(tokens))
                )
                .values(lease_expires_at=self._now(conn) + self.lease, updated_at=utcnow())
                .returning(jobs.c.id, jobs.c.lease_token)
            ).all()
        return {job_id for job_id, token in renewed if tokens.get(token) == job_id}

    @retry_on_disconnect
    def mark_started(self, started: Sequence[int]) -> None:
        """These attempts of jobs held ahead have been started by a thread (see ``claim_many``)."""
        with write_transaction(self.engine) as conn:
            _clear_ahead(conn, list(started))

    def complete(self, job: ClaimedJob, new: NewResult) -> int | None:
        """Record the result in ONE transaction with the job's progress; None if the lease was lost meanwhile.

        A job that also publishes stays ``running`` with its ``result_id`` set until ``finish`` — a worker that
        dies in between leaves a job that the next claimant publishes without generating again.
        """
        return self.complete_many([(job, new)])[0]

    def complete_many(self, done: list[tuple[ClaimedJob, NewResult]]) -> list[int | None]:
        """``complete`` for many claims in one transaction (one commit, a handful of statements for all).

        Each claim is fenced on its own: the jobs still held by their tokens (and not yet linked to a result) are
        locked first, and only their results are written; for the others the answer is what a repeat finds (the
        result this claim linked before a lost acknowledgement), else None.
        """
        linked = self._link_results(done)
        answers: list[int | None] = []
        for job, _ in done:
            if job.id in linked:
                answers.append(linked[job.id])
            else:
                with self.engine.connect() as conn:
                    answers.append(self._completed_by(conn, job))
        return answers

    @retry_on_disconnect
    def _link_results(self, done: list[tuple[ClaimedJob, NewResult]]) -> dict[int, int]:
        claims = {job.id: (job, new) for job, new in reversed(done)}  # a job listed twice is linked once
        if self.engine.dialect.name == "postgresql":
            with self.rounds.connect() as conn:
                return queue_pg.complete(conn, list(claims.values()))
        with write_transaction(self.engine) as conn:
            tokens = [job.token for job, _ in claims.values()]
            fresh = conn.execute(_FRESH, {"b_ids": list(claims), "b_tokens": tokens}).all()
            held = [claims[job_id] for job_id, token in fresh if claims[job_id][0].token == token]
            if not held:
                return {}
            result_ids = insert_results(conn, [(job.user_id, job.id, new) for job, new in held])
            now = utcnow()
            for publish in (False, True):
                rows = [
                    {"b_job": job.id, "b_token": job.token, "b_result": rid, "b_now": now}
                    for (job, _), rid in zip(held, result_ids, strict=True)
                    if job.publish == publish
                ]
                if rows:
                    conn.execute(_LINK_OPEN if publish else _LINK_DONE, rows)
            closed = [{"b_attempt": job.attempt_id, "b_now": now} for job, _ in held if not job.publish]
            if closed:
                conn.execute(_ATTEMPT_DONE, closed)
            upsert_states(
                conn,
                [
                    {"user_id": job.user_id, "job_id": job.id, "result_id": rid, "review_id": None}
                    for (job, _), rid in zip(held, result_ids, strict=True)
                ],
            )
        return {job.id: rid for (job, _), rid in zip(held, result_ids, strict=True)}

    @staticmethod
    def _completed_by(conn: Connection, job: ClaimedJob) -> int | None:
        """A repeat of ``complete`` whose first commit landed (the acknowledgement was lost): the job row still
        carries this claim's token and the result it linked, so the repeat returns that result, not "lost"."""
        return conn.execute(
            select(jobs.c.result_id).where(
                jobs.c.id == job.id, jobs.c.lease_token == job.token, jobs.c.status.in_((RUNNING, DONE))
            )
        ).scalar_one_or_none()

    @retry_on_disconnect
    def finish(self, job: ClaimedJob) -> bool:
        """The publishing step is over: the job is done. A repeat whose first commit landed (a lost
        acknowledgement) finds the job done under this claim's token and reports success, not "lost"."""
        with write_transaction(self.engine) as conn:
            if not conn.execute(update(jobs).where(self._held(job)).values(updated_at=utcnow())).rowcount:
                done = select(jobs.c.id).where(
                    jobs.c.id == job.id, jobs.c.lease_token == job.token, jobs.c.status == DONE
                )
                return conn.execute(done).first() is not None
            self._mark_done(conn, job)
        return True

    def _mark_done(self, conn: Connection, job: ClaimedJob) -> None:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job.id)
            .values(status=DONE, lease_owner=None, lease_expires_at=None, error=None, error_kind=None)
        )
        self._finish_attempt(conn, job, "done")

    @retry_on_disconnect
    def fail(self, job: ClaimedJob, *, kind: str, message: str, retry_in: float | None) -> str:
        """A failed attempt: back to the queue after ``retry_in`` seconds, or failed for good. Returns the status."""
        now = utcnow()
        retry = retry_in is not None and job.attempts < job.max_attempts
        status = QUEUED if retry else FAILED
        with write_transaction(self.engine) as conn:
            n = conn.execute(
                update(jobs)
                .where(self._held(job))
                .values(
                    status=status,
                    error_kind=kind,
                    error=message[:2000],
                    lease_owner=None,
                    lease_token=None,
                    lease_expires_at=None,
                    updated_at=now,
                    not_before=now + dt.timedelta(seconds=retry_in) if retry and retry_in else None,
                )
            ).rowcount
            if n:
                self._finish_attempt(conn, job, "retry" if retry else "failed", kind, message)
        return status if n else "lost"

    @retry_on_disconnect
    def release(self, job: ClaimedJob) -> None:
        """Cancelled mid-item: the job goes back to the queue untouched (the attempt does not count)."""
        with write_transaction(self.engine) as conn:
            n = conn.execute(
                update(jobs)
                .where(self._held(job))
                .values(
                    status=QUEUED,
                    lease_owner=None,
                    lease_token=None,
                    lease_expires_at=None,
                    attempts=jobs.c.attempts - 1,
                    updated_at=utcnow(),
                )
            ).rowcount
            if n:
                self._finish_attempt(conn, job, "cancelled")

    @retry_on_disconnect
    def expire_dead_local_leases(self, host: str) -> int:
        """Leases held by processes of this host that no longer exist: expire them now instead of waiting.

        A worker id is ``host/boot:pid:nonce``; a rerun after ``kill -9`` on the same machine resumes at once,
        while a dead worker on another machine (even one with the same host name) is only recognised when its
        lease runs out.
        """
        prefix = f"{host}/{boot_id()}:"
        with self.engine.connect() as conn:
            held = conn.execute(
                select(jobs.c.id, jobs.c.lease_owner).where(
                    jobs.c.status == RUNNING, jobs.c.lease_owner.startswith(prefix, autoescape=True)
                )
            ).all()
        dead = [job_id for job_id, owner in held if not _pid_alive(owner)]
        if not dead:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(dead), jobs.c.status == RUNNING)
                .values(lease_expires_at=self._now(conn) - dt.timedelta(seconds=1))
            ).rowcount

    @retry_on_disconnect
    def cancel_queued(self, *, batch: str | None = None) -> int:
        stmt = update(jobs).where(jobs.c.status == QUEUED)
        if batch is not None:
            stmt = stmt.where(jobs.c.batch == batch)
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(status=CANCELLED, updated_at=utcnow())).rowcount

    @retry_on_disconnect
    def waiting(self, batch: str) -> int:
        """Jobs of ``batch`` that this run could still claim, now or after a backoff (queued, or a lapsed lease).

        A job of the batch held by a live worker elsewhere is not counted: a run never ends waiting on it.
        """
        with self.engine.connect() as conn:
            now = self._now(conn)
            stmt = (
                select(func.count())
                .select_from(jobs)
                .where(
                    jobs.c.batch == batch,
                    or_(jobs.c.status == QUEUED, and_(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now)),
                )
            )
            return int(conn.execute(stmt).scalar_one())

    @retry_on_disconnect
    def pending(self, *, batch: str | None = None) -> int:
        stmt = select(func.count()).select_from(jobs).where(jobs.c.status.in_(ACTIVE))
        if batch is not None:
            stmt = stmt.where(jobs.c.batch == batch)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def _finish_attempt(
        self,
        conn: Connection,
        job: ClaimedJob,
        outcome: str,
        kind: str | None = None,
        error: str | None = None,
    ) -> None:
        conn.execute(
            update(attempts)
            .where(attempts.c.id == job.attempt_id)
            .values(finished_at=utcnow(), outcome=outcome, error_kind=kind, error=(error or "")[:2000] or None)
        )
