"""The job queue: a table in the portal database, shared by in-process runners and workers on other machines.

A claim is a lease: the worker renews it with a heartbeat; a job whose lease expired (its worker died) is claimable
again. Every claim writes its own fencing token on the job row, and every state change (heartbeat, result, failure,
release) is conditional on that token: two claims of one job (even by threads of one runner, which share a worker
id) never both pass, so a worker that lost its lease can never overwrite or undo the work of the one that took
over. Claims, results and heartbeats come in batches (``claim_many``, ``complete_many``, ``heartbeat_many``): a
runner's threads that need the database at the same moment share one transaction, each claim still fenced on its
own.

``JobQueue`` is the one interface the jobs use, and holds everything that is the same on every database. The
claim and result rounds and the clock differ: the queue takes one ``QueueRounds`` implementation for its
database at construction (``rounds_for``) and never asks which database it is again.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.engine import Connection

from depthstudio.config import JobConfig
from depthstudio.errors import ConfigError
from depthstudio.portal.engine import retry_on_disconnect, write_transaction, writer
from depthstudio.portal.portal_base import upsert_states, utcnow
from depthstudio.portal.queue_postgres import PostgresRounds
from depthstudio.portal.queue_rounds import (
    CLAIM_RETURNING,
    ClaimedJob,
    CurrentPhotos,
    QueueRounds,
    claimable,
    claimed_jobs,
    clear_ahead,
)
from depthstudio.portal.queue_sqlite import SqliteRounds
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import NewResult
from depthstudio.portal.schema import UsersTable
from depthstudio.portal.tables import attempts, jobs, results, user_state
from depthstudio.portal.vocabulary import ACTIVE, AttemptOutcome, JobStatus

__all__ = ["ClaimedJob", "JobQueue", "boot_id", "rounds_for"]  # ClaimedJob: what the queue hands out

_PREFIX_LEN = 20  # a claim's random token prefix; with the job id the token fits the 32-character column
# The one place the database decides: each dialect's rounds, by SQLAlchemy's dialect name.
_ROUNDS: dict[str, Callable[[Engine, UsersTable, dt.timedelta], QueueRounds]] = {
    "sqlite": SqliteRounds,
    "postgresql": PostgresRounds,
}


def rounds_for(engine: Engine, users: UsersTable, lease: dt.timedelta) -> QueueRounds:
    """The claim and result rounds of this engine's database."""
    try:
        make = _ROUNDS[engine.dialect.name]
    except KeyError:
        raise ConfigError(f"the job queue runs on SQLite or PostgreSQL, not {engine.dialect.name}") from None
    return make(engine, users, lease)


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
    def __init__(self, portal: Portal, *, lease_s: float = JobConfig.lease_s) -> None:
        self.portal = portal
        self.engine = portal.engine
        self.lease = dt.timedelta(seconds=lease_s)
        self.rounds = rounds_for(self.engine, portal.users, self.lease)
        self._current_photos = CurrentPhotos(portal.users)

    @property
    def rounds_in_process(self) -> bool:
        """The database runs in this process (SQLite): a round is CPU work here, not a wait on a server."""
        return self.rounds.in_process

    def keep_connections(self) -> None:
        """For a run: the claim and result rounds keep their connections until ``close``."""
        self.rounds.keep_connections()

    def close(self) -> None:
        """Give the connections the rounds kept back to the pool."""
        self.rounds.close()

    # --- producing ----------------------------------------------------------------------------------------

    def enqueue(
        self,
        users: Iterable[tuple[str, str]],
        *,
        publish: bool = False,
        max_attempts: int = JobConfig.retries,
        batch: str | None = None,
    ) -> int:
        """Queue (user id, avatar) pairs; a user that already has an active job is skipped, not queued twice."""
        now = utcnow()
        rows = [
            {
                "user_id": uid,
                "status": JobStatus.QUEUED,
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
        """Repeatable: a user whose job a lost-acknowledgement commit already created is skipped by the index.

        The insert is built once and run with a list of rows (insertmanyvalues): a multi-VALUES statement built
        per chunk cost ~0.45 s to compile for 1,000 users, most of a run's start."""
        with writer(self.engine).begin() as conn:
            self._carry_unpublished_results(conn, chunk)
            created = conn.execute(self.rounds.insert_jobs(), chunk).all()
            upsert_states(conn, [{"user_id": uid, "job_id": job_id} for job_id, uid in created])
            batch = chunk[0]["batch"] if chunk else None
            skipped = {row["user_id"] for row in chunk} - {uid for _, uid in created}
            if batch is not None and skipped:
                # A user's job left behind by a run that died (still queued, or its lease lapsed) joins this
                # run's lane: the run that asks for the user takes it over. A job held by a live worker stays there.
                conn.execute(
                    update(jobs)
                    .where(jobs.c.user_id.in_(sorted(skipped)), claimable(self.rounds.now(), backing_off=True))
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
            .where(
                user_state.c.user_id.in_(list(avatars)),
                jobs.c.status == JobStatus.FAILED,
                results.c.published_url.is_(None),
            )
        ).all()
        found = {uid: rid for uid, rid, avatar in carried if avatars.get(uid) == avatar}
        for row in chunk:
            row["result_id"] = found.get(row["user_id"])

    # --- consuming ----------------------------------------------------------------------------------------

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
        direct, started = marks or (n, [])  # (how many go to threads now, the started attempts to unmark)
        if tried:  # a repeat: maybe the first try committed and only its acknowledgement was lost
            again = self._claimed_before(worker, prefix)
            if again:
                return again
        tried.append(True)
        return self.rounds.claim(worker, prefix, n, batch, direct, started)

    def _claimed_before(self, worker: str, prefix: str) -> list[ClaimedJob]:
        """The jobs an earlier try of this very claim took (its token prefix), with their attempts."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(*CLAIM_RETURNING).where(
                    jobs.c.lease_token.startswith(prefix), jobs.c.status == JobStatus.RUNNING
                )
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
        return claimed_jobs(worker, rows, attempt_ids, photos)

    def _held(self, job: ClaimedJob) -> Any:
        """This very claim still holds the job: its fencing token, not the (shared) worker id, decides."""
        return and_(jobs.c.id == job.id, jobs.c.status == JobStatus.RUNNING, jobs.c.lease_token == job.token)

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
            clear_ahead(conn, started)
            renewed = conn.execute(
                update(jobs)
                .where(
                    jobs.c.id.in_(list(tokens.values())),
                    jobs.c.status == JobStatus.RUNNING,
                    jobs.c.lease_token.in_(list(tokens)),
                )
                .values(lease_expires_at=self.rounds.now() + self.lease, updated_at=utcnow())
                .returning(jobs.c.id, jobs.c.lease_token)
            ).all()
        return {job_id for job_id, token in renewed if tokens.get(token) == job_id}

    @retry_on_disconnect
    def mark_started(self, started: Sequence[int]) -> None:
        """These attempts of jobs held ahead have been started by a thread (see ``claim_many``)."""
        with write_transaction(self.engine) as conn:
            clear_ahead(conn, started)

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
        return self.rounds.link(list(claims.values()))

    @staticmethod
    def _completed_by(conn: Connection, job: ClaimedJob) -> int | None:
        """A repeat of ``complete`` whose first commit landed (the acknowledgement was lost): the job row still
        carries this claim's token and the result it linked, so the repeat returns that result, not "lost"."""
        return conn.execute(
            select(jobs.c.result_id).where(
                jobs.c.id == job.id,
                jobs.c.lease_token == job.token,
                jobs.c.status.in_((JobStatus.RUNNING, JobStatus.DONE)),
            )
        ).scalar_one_or_none()

    @retry_on_disconnect
    def finish(self, job: ClaimedJob) -> bool:
        """The publishing step is over: the job is done. A repeat whose first commit landed (a lost
        acknowledgement) finds the job done under this claim's token and reports success, not "lost"."""
        with write_transaction(self.engine) as conn:
            if not conn.execute(update(jobs).where(self._held(job)).values(updated_at=utcnow())).rowcount:
                done = select(jobs.c.id).where(
                    jobs.c.id == job.id, jobs.c.lease_token == job.token, jobs.c.status == JobStatus.DONE
                )
                return conn.execute(done).first() is not None
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id)
                .values(status=JobStatus.DONE, lease_owner=None, lease_expires_at=None, error=None, error_kind=None)
            )
            self._finish_attempt(conn, job, AttemptOutcome.DONE)
        return True

    @retry_on_disconnect
    def fail(self, job: ClaimedJob, *, kind: str, message: str, retry_in: float | None) -> JobStatus | None:
        """A failed attempt: back to the queue after ``retry_in`` seconds, or failed for good. Returns the job's
        status, or None when the lease was lost meanwhile (another worker holds the job)."""
        now = utcnow()
        retry = retry_in is not None and job.attempts < job.max_attempts
        status = JobStatus.QUEUED if retry else JobStatus.FAILED
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
                outcome = AttemptOutcome.RETRY if retry else AttemptOutcome.FAILED
                self._finish_attempt(conn, job, outcome, kind, message)
        return status if n else None

    @retry_on_disconnect
    def release(self, job: ClaimedJob) -> None:
        """Cancelled mid-item: the job goes back to the queue untouched (the attempt does not count)."""
        with write_transaction(self.engine) as conn:
            n = conn.execute(
                update(jobs)
                .where(self._held(job))
                .values(
                    status=JobStatus.QUEUED,
                    lease_owner=None,
                    lease_token=None,
                    lease_expires_at=None,
                    attempts=jobs.c.attempts - 1,
                    updated_at=utcnow(),
                )
            ).rowcount
            if n:
                self._finish_attempt(conn, job, AttemptOutcome.CANCELLED)

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
                    jobs.c.status == JobStatus.RUNNING, jobs.c.lease_owner.startswith(prefix, autoescape=True)
                )
            ).all()
        dead = [job_id for job_id, owner in held if not _pid_alive(owner)]
        if not dead:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(dead), jobs.c.status == JobStatus.RUNNING)
                .values(lease_expires_at=self.rounds.now() - dt.timedelta(seconds=1))
            ).rowcount

    @retry_on_disconnect
    def cancel_queued(self, *, batch: str | None = None) -> int:
        stmt = update(jobs).where(jobs.c.status == JobStatus.QUEUED)
        if batch is not None:
            stmt = stmt.where(jobs.c.batch == batch)
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(status=JobStatus.CANCELLED, updated_at=utcnow())).rowcount

    @retry_on_disconnect
    def waiting(self, batch: str) -> int:
        """Jobs of ``batch`` that this run could still claim, now or after a backoff (queued, or a lapsed lease).

        A job of the batch held by a live worker elsewhere is not counted: a run never ends waiting on it.
        """
        stmt = (
            select(func.count())
            .select_from(jobs)
            .where(jobs.c.batch == batch, claimable(self.rounds.now(), backing_off=True))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    @retry_on_disconnect
    def pending(self, *, batch: str | None = None) -> int:
        stmt = select(func.count()).select_from(jobs).where(jobs.c.status.in_(ACTIVE))
        if batch is not None:
            stmt = stmt.where(jobs.c.batch == batch)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    @staticmethod
    def _finish_attempt(
        conn: Connection,
        job: ClaimedJob,
        outcome: AttemptOutcome,
        kind: str | None = None,
        error: str | None = None,
    ) -> None:
        conn.execute(
            update(attempts)
            .where(attempts.c.id == job.attempt_id)
            .values(finished_at=utcnow(), outcome=outcome, error_kind=kind, error=(error or "")[:2000] or None)
        )
