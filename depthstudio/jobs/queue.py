"""The job queue: a table in the portal database, shared by in-process runners and workers on other machines.

Claiming uses ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (workers never block each other) and a single
atomic ``UPDATE`` on SQLite (one writer at a time anyway). A claim is a lease: the worker renews it with a
heartbeat; a job whose lease expired (its worker died) is claimable again. Every claim writes its own fencing
token on the job row, and every state change (heartbeat, result, failure, release) is conditional on that token:
two claims of one job (even by threads of one runner, which share a worker id) never both pass, so a worker that
lost its lease can never overwrite or undo the work of the one that took over. Lease times come from the database
server's clock on PostgreSQL (workers on several machines compare against one clock).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from depthstudio.depth.postprocess import DepthMap
from depthstudio.portal.engine import retry_on_disconnect, writer
from depthstudio.portal.repository import Portal, upsert_state, utcnow
from depthstudio.portal.tables import (
    ACTIVE,
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    attempts,
    jobs,
    result_blobs,
    results,
    user_state,
)


@dataclass(frozen=True)
class ClaimedJob:
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


@dataclass
class NewResult:
    """What the pipeline hands the queue to record, atomically with the job's completion."""

    avatar_url: str
    avatar_sha256: str
    backend: str
    model: str
    width: int
    height: int
    png8: bytes
    png16: bytes | None
    qa: dict[str, Any] | None = None
    qa_risk: float = 0.0
    postprocess: dict[str, Any] | None = None

    @classmethod
    def from_depth_map(
        cls, depth_map: DepthMap, *, avatar_url: str, avatar_sha256: str, backend: str, model: str
    ) -> NewResult:
        return cls(
            avatar_url=avatar_url,
            avatar_sha256=avatar_sha256,
            backend=backend,
            model=model,
            width=depth_map.depth.shape[1],
            height=depth_map.depth.shape[0],
            png8=depth_map.png8,
            png16=depth_map.png16,
            qa=depth_map.qa,
            qa_risk=float(depth_map.qa.get("risk", 0.0)),
            postprocess=depth_map.options,
        )


def insert_result(conn: Connection, user_id: str, job_id: int | None, new: NewResult) -> int:
    """The result row and its PNGs, in the caller's transaction."""
    result_id: int = conn.execute(
        results.insert()
        .values(
            user_id=user_id,
            job_id=job_id,
            avatar_url=new.avatar_url,
            avatar_sha256=new.avatar_sha256,
            backend=new.backend,
            model=new.model,
            location="db",
            width=new.width,
            height=new.height,
            qa=new.qa,
            qa_risk=new.qa_risk,
            postprocess=new.postprocess,
            created_at=utcnow(),
        )
        .returning(results.c.id)
    ).scalar_one()
    conn.execute(result_blobs.insert().values(result_id=result_id, png8=new.png8, png16=new.png16))
    return result_id


@retry_on_disconnect
def record_result(portal: Portal, user_id: str, new: NewResult) -> int:
    """A result made outside the queue (an imported or hand-authored map) becomes the user's current one."""
    with portal.engine.begin() as conn:
        result_id = insert_result(conn, user_id, None, new)
        upsert_state(conn, user_id, result_id=result_id, review_id=None)
    return result_id


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
            ins = self._insert(conn).values(chunk).on_conflict_do_nothing()
            created = conn.execute(ins.returning(jobs.c.id, jobs.c.user_id)).all()
            for job_id, uid in created:
                upsert_state(conn, uid, job_id=job_id)
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

    @staticmethod
    def _insert(conn: Connection) -> Any:
        return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(jobs)

    # --- consuming ----------------------------------------------------------------------------------------

    def _now(self, conn: Connection) -> Any:
        """The database server's clock (naive UTC) on PostgreSQL; this machine's on SQLite (a local file)."""
        if conn.dialect.name == "postgresql":
            return func.timezone("UTC", func.now()).cast(DateTime)
        return utcnow()

    def claim(self, worker: str, *, batch: str | None = None) -> ClaimedJob | None:
        """Take the oldest claimable job (of ``batch`` only, when given) under a fresh fencing token. A retry
        after a lost commit acknowledgement finds the job already carrying this token and returns it, instead of
        leaving a second claim behind."""
        return self._claim(worker, uuid.uuid4().hex, batch)

    @retry_on_disconnect
    def _claim(self, worker: str, token: str, batch: str | None) -> ClaimedJob | None:
        returning = (
            jobs.c.id,
            jobs.c.user_id,
            jobs.c.avatar_url,
            jobs.c.publish,
            jobs.c.attempts,
            jobs.c.max_attempts,
            jobs.c.result_id,
        )
        with writer(self.engine).begin() as conn:
            row = conn.execute(select(*returning).where(jobs.c.lease_token == token, jobs.c.status == RUNNING)).first()
            if row is not None:
                attempt_id = conn.execute(
                    select(func.max(attempts.c.id)).where(attempts.c.job_id == row.id, attempts.c.worker == worker)
                ).scalar_one()
                return self._claimed(row, worker, attempt_id, token)
            now = self._now(conn)
            claimable = or_(
                and_(jobs.c.status == QUEUED, or_(jobs.c.not_before.is_(None), jobs.c.not_before <= now)),
                and_(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now),
            )
            exhausted = and_(
                jobs.c.status == RUNNING, jobs.c.lease_expires_at < now, jobs.c.attempts >= jobs.c.max_attempts
            )
            if batch is not None:
                claimable = and_(claimable, jobs.c.batch == batch)
            pick = select(jobs.c.id).where(claimable).order_by(jobs.c.id).limit(1)
            pick = pick.with_for_update(skip_locked=True).scalar_subquery()
            stmt = (
                update(jobs)
                .where(jobs.c.id == pick, claimable)
                .values(
                    status=RUNNING,
                    lease_owner=worker,
                    lease_token=token,
                    lease_expires_at=now + self.lease,
                    attempts=jobs.c.attempts + 1,
                    updated_at=utcnow(),
                )
                .returning(*returning)
            )
            # A job whose worker died on every attempt (a poison photo that kills the process) stops here.
            conn.execute(
                update(jobs)
                .where(exhausted)
                .values(
                    status=FAILED,
                    error_kind="worker_lost",
                    error="the worker processing this user stopped (crash or kill) on every attempt; giving up",
                    lease_owner=None,
                    lease_token=None,
                    lease_expires_at=None,
                    updated_at=utcnow(),
                )
            )
            row = conn.execute(stmt).first()
            if row is None:
                return None
            started = utcnow()
            if row.attempts > 1:  # maybe a lease taken over from a dead worker: close its dangling attempt as lost
                conn.execute(
                    update(attempts)
                    .where(attempts.c.job_id == row.id, attempts.c.finished_at.is_(None))
                    .values(finished_at=started, outcome="lost")
                )
            attempt_id = conn.execute(
                attempts.insert().values(job_id=row.id, worker=worker, started_at=started).returning(attempts.c.id)
            ).scalar_one()
        return self._claimed(row, worker, attempt_id, token)

    @staticmethod
    def _claimed(row: Any, worker: str, attempt_id: int, token: str) -> ClaimedJob:
        return ClaimedJob(
            id=row.id,
            user_id=row.user_id,
            avatar_url=row.avatar_url,
            publish=bool(row.publish),
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            worker=worker,
            attempt_id=attempt_id,
            result_id=row.result_id,
            token=token,
        )

    def _held(self, job: ClaimedJob) -> Any:
        """This very claim still holds the job: its fencing token, not the (shared) worker id, decides."""
        return and_(jobs.c.id == job.id, jobs.c.status == RUNNING, jobs.c.lease_token == job.token)

    @retry_on_disconnect
    def heartbeat(self, job: ClaimedJob) -> bool:
        """Extend the lease; False means it was lost (another worker took the job): stop working on it."""
        with self.engine.begin() as conn:
            n = conn.execute(
                update(jobs)
                .where(self._held(job))
                .values(lease_expires_at=self._now(conn) + self.lease, updated_at=utcnow())
            ).rowcount
        return n == 1

    @retry_on_disconnect
    def update_avatar(self, job: ClaimedJob, avatar_url: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(self._held(job)).values(avatar_url=avatar_url))

    @retry_on_disconnect
    def complete(self, job: ClaimedJob, new: NewResult) -> int | None:
        """Record the result in ONE transaction with the job's progress; None if the lease was lost meanwhile.

        A job that also publishes stays ``running`` with its ``result_id`` set until ``finish`` — a worker that
        dies in between leaves a job that the next claimant publishes without generating again.
        """
        with self.engine.begin() as conn:
            result_id = insert_result(conn, job.user_id, job.id, new)
            # One conditional UPDATE both checks the lease and links the result; a repeat (or a worker that lost
            # its lease) matches no row and the whole transaction, result included, is rolled back.
            values: dict[str, Any] = {"result_id": result_id, "updated_at": utcnow()}
            if not job.publish:
                values.update(status=DONE, lease_owner=None, lease_expires_at=None, error=None, error_kind=None)
            fresh = and_(self._held(job), jobs.c.result_id.is_(None))
            linked = conn.execute(update(jobs).where(fresh).values(values)).rowcount
            if not linked:
                conn.rollback()
            else:
                if not job.publish:
                    self._finish_attempt(conn, job, "done")
                upsert_state(conn, job.user_id, job_id=job.id, result_id=result_id, review_id=None)
        if not linked:
            with self.engine.connect() as conn:
                return self._completed_by(conn, job)
        return result_id

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
        with self.engine.begin() as conn:
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
        with self.engine.begin() as conn:
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
        with self.engine.begin() as conn:
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
