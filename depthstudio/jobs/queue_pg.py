"""PostgreSQL's claim round and result round, each ONE statement run in autocommit (data-modifying CTEs).

The generic rounds (jobs/queue.py) are transactions of five to nine statements; with BEGIN, COMMIT and the
pool's ping, each is a network wait, and a runner's grouped round gives up the GIL at every one of them. Among
thirty busy threads it then waits its turn to get the GIL back, so a round took 25-40 ms of wall time for 3-5 ms
of its own work, and the one-round-at-a-time chains of claims and of results bounded the whole run
(bulk_job.py, L = 0, C = 16: ~160 users/s). One statement is one wait, and a single statement is atomic on its
own, so the fencing is unchanged: every row it writes is conditional on the claim's token, as in the generic
rounds (tests/test_grouped_queue.py runs both).

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
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from depthstudio.portal.base import utcnow
from depthstudio.portal.results import NOT_YET
from depthstudio.portal.schema import UsersTable
from depthstudio.portal.tables import (
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    attempts,
    jobs,
    photo_checks,
    result_blobs,
    results,
    user_state,
)

if TYPE_CHECKING:
    from depthstudio.jobs.claims import ClaimedJob
    from depthstudio.portal.results import NewResult


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
# the error of a job whose worker died on every attempt, written by both claims (this one and the generic one)
GAVE_UP = "the worker processing this user stopped (crash or kill) on every attempt; giving up"
# An attempt opened for a job claimed ahead (held for a thread, not yet started): a worker's death is not charged
# to it. The runner clears the mark in its next claim round or heartbeat after a thread starts the job (no write
# of its own); a job whose worker dies with the mark still on goes back with its attempt closed as ``unstarted``.
AHEAD = "ahead"
UNSTARTED = "unstarted"
# A job let off uncharged LET_OFF times max_attempts times is charged anyway: a photo that kills its worker within
# moments of being started (before the mark is cleared) must still run out of attempts, not circle forever. Not
# max_attempts alone: under repeated kills the oldest jobs are the ones a new worker claims ahead again and again.
LET_OFF = 3
_UNSTARTED = (
    f"EXISTS (SELECT 1 FROM {attempts.name} o"
    f" WHERE o.job_id = f.id AND o.finished_at IS NULL AND o.outcome = '{AHEAD}')"
    f" AND (SELECT count(*) FROM {attempts.name} o"
    f" WHERE o.job_id = f.id AND o.outcome = '{UNSTARTED}') < {LET_OFF} * f.max_attempts"
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
    WHERE a.id = ANY(CAST(%(started)s AS int[])) AND a.outcome = '{AHEAD}' AND a.finished_at IS NULL
), found AS MATERIALIZED (
    SELECT id, status, attempts, max_attempts FROM {jobs.name}
    WHERE ((status = '{QUEUED}' AND (not_before IS NULL OR not_before <= {_NOW}))
           OR (status = '{RUNNING}' AND lease_expires_at < {_NOW})){" AND batch = %(batch)s" if lane else ""}
    ORDER BY id LIMIT %(n)s FOR UPDATE SKIP LOCKED
), pick AS MATERIALIZED (
    SELECT f.id, f.status, f.max_attempts,
        f.attempts - CASE WHEN f.status = '{RUNNING}' AND {_UNSTARTED} THEN 1 ELSE 0 END AS attempts,
        f.status = '{RUNNING}' AND {_UNSTARTED} AS unstarted
    FROM found f
), returned AS (
    UPDATE {attempts.name} a SET finished_at = %(now)s, outcome = '{UNSTARTED}'
    FROM pick WHERE a.job_id = pick.id AND pick.unstarted AND a.finished_at IS NULL
), gave_up AS (
    UPDATE {jobs.name} j SET status = '{FAILED}', error_kind = 'worker_lost', error = %(gave_up)s,
        lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL, updated_at = %(now)s
    FROM pick WHERE j.id = pick.id AND pick.status = '{RUNNING}' AND pick.attempts >= pick.max_attempts
    RETURNING j.id
), closed AS (
    UPDATE {attempts.name} a SET finished_at = %(now)s, outcome = 'lost', error_kind = 'worker_lost'
    FROM gave_up WHERE a.job_id = gave_up.id AND a.finished_at IS NULL
), taken AS (
    UPDATE {jobs.name} j SET status = '{RUNNING}', lease_owner = %(worker)s, lease_token = %(prefix)s || j.id,
        lease_expires_at = {_NOW} + %(lease)s, attempts = pick.attempts + 1, updated_at = %(now)s,
        avatar_url = CASE WHEN j.result_id IS NULL THEN COALESCE({photo}, j.avatar_url) ELSE j.avatar_url END
    FROM pick WHERE j.id = pick.id AND NOT (pick.status = '{RUNNING}' AND pick.attempts >= pick.max_attempts)
    RETURNING j.id, j.user_id, j.avatar_url, j.publish, j.attempts, j.max_attempts, j.result_id, j.lease_token,
        j.result_id IS NULL AND {photo} IS NULL AS no_photo
), lost AS (
    UPDATE {attempts.name} a SET finished_at = %(now)s, outcome = 'lost'
    FROM taken JOIN pick ON pick.id = taken.id
    WHERE a.job_id = taken.id AND taken.attempts > 1 AND NOT pick.unstarted AND a.finished_at IS NULL
), opened AS (
    INSERT INTO {attempts.name} (job_id, worker, started_at, outcome)
    SELECT id, %(worker)s, %(now)s, CASE WHEN rank > %(direct)s THEN '{AHEAD}' END
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM taken) t
    RETURNING job_id, id
)
SELECT taken.*, opened.id AS attempt_id FROM taken JOIN opened ON opened.job_id = taken.id ORDER BY taken.id
"""


def claim(
    conn: Connection,
    users: UsersTable,
    *,
    worker: str,
    prefix: str,
    n: int,
    batch: str | None,
    lease: dt.timedelta,
    direct: int | None = None,
    started: Sequence[int] = (),
) -> list[Any]:
    """Up to ``n`` jobs taken in one statement; rows as the generic claim's plus ``attempt_id`` and ``no_photo``.

    The first ``direct`` (all by default) go to threads now; the rest are held ahead. ``started``: the attempt ids
    of jobs held ahead that a thread has started since (their mark is cleared in the same statement)."""
    prep = conn.dialect.identifier_preparer
    sql = _claim_sql(
        prep.format_table(users.id.table),
        prep.quote(users.id.name),
        prep.quote(users.avatar.name),
        users.id.type.compile(dialect=conn.dialect),
        batch is not None,
    )
    params = {
        "n": n,
        "batch": batch,
        "worker": worker,
        "prefix": prefix,
        "lease": lease,
        "now": utcnow(),
        "gave_up": GAVE_UP,
        "direct": n if direct is None else direct,
        "started": list(started),
    }
    return list(conn.exec_driver_sql(sql, params).all())


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
    WHERE j.status = '{RUNNING}' AND j.result_id IS NULL ORDER BY j.id FOR UPDATE OF j
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
        status = CASE WHEN item.publish THEN j.status ELSE '{DONE}' END,
        lease_owner = CASE WHEN item.publish THEN j.lease_owner END,
        lease_expires_at = CASE WHEN item.publish THEN j.lease_expires_at END,
        error = CASE WHEN item.publish THEN j.error END,
        error_kind = CASE WHEN item.publish THEN j.error_kind END
    FROM made JOIN item USING (job_id) WHERE j.id = made.job_id
), closed AS (
    UPDATE {attempts.name} a SET finished_at = %(now)s, outcome = 'done', error_kind = NULL, error = NULL
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


def complete(conn: Connection, held: Sequence[tuple[ClaimedJob, NewResult]]) -> dict[int, int]:
    """Record each result whose claim still holds its job (one job each), in one statement; {job id: result id}."""
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
    return {int(job_id): int(result_id) for job_id, result_id in conn.exec_driver_sql(_COMPLETE_SQL, params).all()}
