"""PostgreSQL's claim round and result round, each ONE statement run in autocommit (data-modifying CTEs).

As transactions of five to nine Core statements (SQLite's rounds, portal/queue_sqlite.py), with BEGIN, COMMIT and
the pool's ping, each statement is a network wait, and a runner's grouped round gives up the GIL at every one of
them. Among thirty busy threads it then waits its turn to get the GIL back, so a round took 25-40 ms of wall time
for 3-5 ms of its own work, and the one-round-at-a-time chains of claims and of results bounded the whole run
(bulk_job.py, L = 0, C = 16: ~160 users/s). One statement is one wait, and a single statement is atomic on its
own, so the fencing is unchanged: every row it writes is conditional on the claim's token, as in SQLite's rounds
(tests/test_grouped_queue.py runs both). Several workers on several machines share the queue through row locks
(``FOR UPDATE SKIP LOCKED``: workers never block each other), and lease times come from the server's clock.

The text is constant (arrays through ``unnest``, not a VALUES list per batch size), so psycopg prepares it after
a few runs and the server plans it once. The arrays go in psycopg's binary format: in text, every byte of every
PNG would be written out as hex and every JSON text escaped by a regular expression. It is sent with
``exec_driver_sql``: SQLAlchemy's compiling of a Core statement cost about as much GIL time as the round itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Engine, func, literal_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from depthstudio.portal.portal_base import utcnow
from depthstudio.portal.queue_rounds import GAVE_UP, LET_OFF, ClaimedJob, claimable, claimed_jobs
from depthstudio.portal.results import NOT_YET, NewResult
from depthstudio.portal.schema import UsersTable
from depthstudio.portal.tables import attempts, jobs, photo_checks, result_blobs, results, user_state
from depthstudio.portal.vocabulary import AttemptOutcome, JobStatus

_INSERT_JOBS = postgresql.insert(jobs).on_conflict_do_nothing().returning(jobs.c.id, jobs.c.user_id)


class KeptConnections:
    """Autocommit connections kept between rounds (while ``keep`` is on), so a round is its one statement.

    A connection taken from the pool for each round costs the pool's ping (``pool_pre_ping``): a second network
    wait per round. A kept connection needs none: one that failed is closed, never kept, and the round's
    ``retry_on_disconnect`` runs again on a fresh one. Without ``keep`` (one-off callers, which never close the
    queue) each round takes its connection from the pool and gives it back.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._lock = threading.Lock()
        self._idle: list[Connection] = []
        self.keep = False

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._engine.connect()
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        with self._lock:
            if self.keep:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Give every kept connection back to the pool; later rounds take theirs from the pool again."""
        with self._lock:
            idle, self._idle, self.keep = self._idle, [], False
        for conn in idle:
            conn.close()


_NOW = "timezone('UTC', now())"  # the server's clock, naive UTC like every other stored time
_AHEAD, _UNSTARTED_OUTCOME, _LOST = AttemptOutcome.AHEAD, AttemptOutcome.UNSTARTED, AttemptOutcome.LOST
_RUNNING, _DONE, _FAILED = JobStatus.RUNNING, JobStatus.DONE, JobStatus.FAILED
# The claimable condition (portal.queue_rounds.claimable), compiled once into this statement's text.
_CLAIMABLE = str(
    claimable(literal_column(_NOW, DateTime)).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
)
_UNSTARTED = (
    f"EXISTS (SELECT 1 FROM {attempts.name} o"
    f" WHERE o.job_id = f.id AND o.finished_at IS NULL AND o.outcome = '{_AHEAD}')"
    f" AND (SELECT count(*) FROM {attempts.name} o"
    f" WHERE o.job_id = f.id AND o.outcome = '{_UNSTARTED_OUTCOME}') < {LET_OFF} * f.max_attempts"
)


@functools.cache
def _claim_sql(users_from: str, user_id: str, avatar: str, id_type: str, lane: bool) -> str:
    """Clear the ahead marks of the jobs this worker has started, pick the oldest claimable jobs (others' locks
    skipped), give back uncharged the ones a dead worker held only ahead, fail the ones whose worker died on every
    attempt (closing their last attempt as lost), take the rest under this claim's token pointed at their user's
    current photo, close the attempts a dead worker left open, and open this claim's attempts (those beyond the
    first ``direct`` marked ahead)."""
    photo = (
        f"(SELECT u.{avatar} FROM {users_from} u WHERE u.{user_id} = CAST(j.user_id AS {id_type})"
        f" AND u.{avatar} IS NOT NULL AND u.{avatar} <> '')"
    )
    return f"""
WITH started AS (
    UPDATE {attempts.name} a SET outcome = NULL
    WHERE a.id = ANY(CAST(%(started)s AS int[])) AND a.outcome = '{_AHEAD}' AND a.finished_at IS NULL
), found AS MATERIALIZED (
    SELECT id, status, attempts, max_attempts FROM {jobs.name}
    WHERE ({_CLAIMABLE}){" AND batch = %(batch)s" if lane else ""}
    ORDER BY id LIMIT %(n)s FOR UPDATE SKIP LOCKED
), pick AS MATERIALIZED (
    SELECT f.id, f.status, f.max_attempts,
        f.attempts - CASE WHEN f.status = '{_RUNNING}' AND {_UNSTARTED} THEN 1 ELSE 0 END AS attempts,
        f.status = '{_RUNNING}' AND {_UNSTARTED} AS unstarted
    FROM found f
), returned AS (
    UPDATE {attempts.name} a SET finished_at = %(now)s, outcome = '{_UNSTARTED_OUTCOME}'
    FROM pick WHERE a.job_id = pick.id AND pick.unstarted AND a.finished_at IS NULL
), gave_up AS (
    UPDATE {jobs.name} j SET status = '{_FAILED}', error_kind = 'worker_lost', error = %(gave_up)s,
        lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = %(now)s
    FROM pick WHERE j.id = pick.id AND pick.status = '{_RUNNING}' AND pick.attempts >= pick.max_attempts
    RETURNING j.id
), closed AS (
    UPDATE {attempts.name} a SET finished_at = %(now)s, outcome = '{_LOST}', error_kind = 'worker_lost'
    FROM gave_up WHERE a.job_id = gave_up.id AND a.finished_at IS NULL
), taken AS (
    UPDATE {jobs.name} j SET status = '{_RUNNING}', lease_owner = %(worker)s, lease_token = %(prefix)s || j.id,
        lease_expires_at = {_NOW} + %(lease)s, attempts = pick.attempts + 1, updated_at = %(now)s,
        avatar_url = CASE WHEN j.result_id IS NULL THEN COALESCE({photo}, j.avatar_url) ELSE j.avatar_url END
    FROM pick WHERE j.id = pick.id AND NOT (pick.status = '{_RUNNING}' AND pick.attempts >= pick.max_attempts)
    RETURNING j.id, j.user_id, j.avatar_url, j.publish, j.attempts, j.max_attempts, j.result_id, j.lease_token,
        j.result_id IS NULL AND {photo} IS NULL AS no_photo
), lost AS (
    UPDATE {attempts.name} a SET finished_at = %(now)s, outcome = '{_LOST}'
    FROM taken JOIN pick ON pick.id = taken.id
    WHERE a.job_id = taken.id AND taken.attempts > 1 AND NOT pick.unstarted AND a.finished_at IS NULL
), opened AS (
    INSERT INTO {attempts.name} (job_id, worker, started_at, outcome)
    SELECT id, %(worker)s, %(now)s, CASE WHEN rank > %(direct)s THEN '{_AHEAD}' END
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM taken) t
    RETURNING job_id, id
)
SELECT taken.*, opened.id AS attempt_id FROM taken JOIN opened ON opened.job_id = taken.id ORDER BY taken.id
"""


_ITEM_COLUMNS = (
    ("job_id", "int"),
    ("token", "text"),
    ("user_id", "text"),
    ("publish", "bool"),
    ("attempt_id", "int"),
    ("avatar_url", "text"),
    ("avatar_sha256", "text"),
    ("backend", "text"),
    ("model", "text"),
    ("width", "int"),
    ("height", "int"),
    ("qa", "text"),
    ("qa_risk", "float8"),
    ("postprocess", "text"),
    ("png8", "bytea"),
    ("plate_png", "bytea"),
    ("matte_png", "bytea"),
    ("etag", "text"),
    ("last_modified", "text"),
)

_COMPLETE_SQL = f"""
WITH item AS (
    SELECT * FROM unnest({", ".join(f"CAST(%({name})b AS {kind}[])" for name, kind in _ITEM_COLUMNS)})
        AS t({", ".join(name for name, _ in _ITEM_COLUMNS)})
), fresh AS MATERIALIZED (
    SELECT j.id FROM {jobs.name} j JOIN item ON item.job_id = j.id AND item.token = j.lease_token
    WHERE j.status = '{_RUNNING}' AND j.result_id IS NULL ORDER BY j.id FOR UPDATE OF j
), made AS (
    INSERT INTO {results.name} (user_id, job_id, avatar_url, avatar_sha256, backend, model, width, height,
        qa, qa_risk, postprocess, created_at)
    SELECT item.user_id, item.job_id, item.avatar_url, item.avatar_sha256, item.backend, item.model,
        item.width, item.height, CAST(item.qa AS json), item.qa_risk, CAST(item.postprocess AS json), %(now)s
    FROM item JOIN fresh ON fresh.id = item.job_id ORDER BY item.job_id
    RETURNING id, job_id
), blobs AS (
    INSERT INTO {result_blobs.name} (result_id, png8, plate_png, matte_png)
    SELECT made.id, item.png8, item.plate_png, item.matte_png FROM made JOIN item USING (job_id)
), linked AS (
    UPDATE {jobs.name} j SET result_id = made.id, updated_at = %(now)s,
        status = CASE WHEN item.publish THEN j.status ELSE '{_DONE}' END,
        lease_owner = CASE WHEN item.publish THEN j.lease_owner END,
        lease_expires_at = CASE WHEN item.publish THEN j.lease_expires_at END,
        error = CASE WHEN item.publish THEN j.error END,
        error_kind = CASE WHEN item.publish THEN j.error_kind END
    FROM made JOIN item USING (job_id) WHERE j.id = made.job_id
), closed AS (
    UPDATE {attempts.name} a SET finished_at = %(now)s, outcome = '{AttemptOutcome.DONE}', error_kind = NULL,
        error = NULL
    FROM made JOIN item USING (job_id) WHERE a.id = item.attempt_id AND NOT item.publish
), checks AS (
    INSERT INTO {photo_checks.name} (result_id, etag, last_modified, checked_at)
    SELECT made.id, item.etag, item.last_modified, %(not_yet)s FROM made JOIN item USING (job_id)
    WHERE item.etag IS NOT NULL OR item.last_modified IS NOT NULL
), state AS (
    INSERT INTO {user_state.name} (user_id, job_id, result_id, review_id, updated_at)
    SELECT item.user_id, made.job_id, made.id, NULL, %(now)s FROM made JOIN item USING (job_id)
    ON CONFLICT (user_id) DO UPDATE SET job_id = excluded.job_id, result_id = excluded.result_id,
        review_id = excluded.review_id, updated_at = excluded.updated_at
)
SELECT job_id, id FROM made
"""


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


class PostgresRounds:
    in_process = False

    def __init__(self, engine: Engine, users: UsersTable, lease: dt.timedelta) -> None:
        self.lease = lease
        self.connections = KeptConnections(engine)
        prep = engine.dialect.identifier_preparer
        self._users_sql = (
            prep.format_table(users.id.table),
            prep.quote(users.id.name),
            prep.quote(users.avatar.name),
            users.id.type.compile(dialect=engine.dialect),
        )

    def now(self) -> Any:
        """The server's clock: workers on several machines compare leases against one clock."""
        return func.timezone("UTC", func.now()).cast(DateTime)

    def insert_jobs(self) -> Any:
        return _INSERT_JOBS

    def keep_connections(self) -> None:
        self.connections.keep = True

    def close(self) -> None:
        self.connections.close()

    def claim(
        self, worker: str, prefix: str, n: int, batch: str | None, direct: int, started: Sequence[int]
    ) -> list[ClaimedJob]:
        sql = _claim_sql(*self._users_sql, batch is not None)
        params = {
            "n": n,
            "batch": batch,
            "worker": worker,
            "prefix": prefix,
            "lease": self.lease,
            "now": utcnow(),
            "gave_up": GAVE_UP,
            "direct": direct,
            "started": list(started),
        }
        with self.connections.connect() as conn:
            rows = list(conn.exec_driver_sql(sql, params).all())
        photos = {row.user_id: row.avatar_url for row in rows if row.result_id is None and not row.no_photo}
        return claimed_jobs(worker, rows, {row.id: row.attempt_id for row in rows}, photos)

    def link(self, held: Sequence[tuple[ClaimedJob, NewResult]]) -> dict[int, int]:
        columns: dict[str, list[Any]] = {name: [] for name, _ in _ITEM_COLUMNS}
        for job, new in held:
            row = (
                job.id,
                job.token,
                job.user_id,
                job.publish,
                job.attempt_id,
                new.avatar_url,
                new.avatar_sha256,
                new.backend,
                new.model,
                new.width,
                new.height,
                _json(new.qa),
                new.qa_risk,
                _json(new.postprocess),
                new.png8,
                new.plate_png,
                new.matte_png,
                new.photo_etag,
                new.photo_last_modified,
            )
            for (name, _), value in zip(_ITEM_COLUMNS, row, strict=True):
                columns[name].append(value)
        params = {**columns, "now": utcnow(), "not_yet": NOT_YET}
        with self.connections.connect() as conn:
            found = conn.exec_driver_sql(_COMPLETE_SQL, params).all()
        return {int(job_id): int(result_id) for job_id, result_id in found}
