"""A connection pool as large as the run that uses it.

A run of T worker threads (its concurrency C of backend calls plus the threads that prepare and record items
meanwhile) holds up to T connections at once (one per thread, each inside its transaction), plus the heartbeat
thread's and the caller's own reads (counts, progress). A pool smaller than that makes the
threads queue for a connection, and past ``pool_timeout`` fail items that did nothing wrong. The engine a portal
was opened with is sized for the configured ``job.concurrency``; a run that asks for more grows it here.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from depthstudio.portal.engine import make_engine
from depthstudio.portal.repository import Portal

log = logging.getLogger(__name__)

_EXTRA = 2  # the heartbeat thread and the run's own progress queries


def connections_for(concurrency: int) -> int:
    """Connections a run at ``concurrency`` may hold at the same moment."""
    return max(1, concurrency) + _EXTRA


def pool_capacity(engine: Engine) -> int | None:
    """How many connections the engine's pool hands out at once (None: not a bounded pool)."""
    pool = engine.pool
    if isinstance(pool, QueuePool):
        return pool.size() + max(0, pool._max_overflow)  # no public getter for max_overflow
    return None


def fit_pool(portal: Portal, concurrency: int) -> Engine:
    """Make ``portal.engine`` hold at least ``connections_for(concurrency)`` connections; returns the engine.

    A smaller engine is replaced by one to the same database (same URL, password and timeouts); connections
    still checked out of the old one finish their transactions and are closed when returned.
    """
    needed = connections_for(concurrency)
    capacity = pool_capacity(portal.engine)
    if capacity is None or capacity >= needed:
        return portal.engine
    old = portal.engine
    log.info("growing the database pool from %d to %d connections for concurrency %d", capacity, needed, concurrency)
    portal.engine = make_engine(
        old.url.render_as_string(hide_password=False),
        pool_size=needed,
        connect_timeout_s=portal.config.portal.connect_timeout_s,
        statement_timeout_s=portal.config.portal.statement_timeout_s,
        studio_schema=portal.config.portal.studio_schema,
    )
    old.dispose()
    return portal.engine
