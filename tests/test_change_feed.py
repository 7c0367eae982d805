"""The change feed reports the users another connection changed (decision, new result, publish), on PostgreSQL by
LISTEN/NOTIFY and on SQLite by polling, and nothing for a transaction that rolled back."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from depthstudio.jobs.publish import publish_result
from depthstudio.portal.changes import ChangeFeed
from depthstudio.portal.repository import Portal, upsert_state
from depthstudio.portal.results import record_result
from depthstudio.storage.folder_store import LocalDirectoryStore
from tests.helpers import make_portal, portal_config, tiny_result, write_avatars

_KILL_LISTENER = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid() AND datname = current_database()"
)


@contextmanager
def _two_studios(db_url: str, tmp_path: Path) -> Iterator[tuple[Portal, queue.Queue, list[str]]]:
    """A writing portal, and what a second portal's feed hears, in the order it hears it."""
    avatars = write_avatars(tmp_path / "a", 3, size=32)
    make_portal(db_url, avatars)
    cfg = portal_config(db_url, tmp_path)
    writer, watcher = Portal.open(cfg), Portal.open(cfg)
    seen: queue.Queue = queue.Queue()
    feed = ChangeFeed(watcher.engine, seen.put, poll_s=0.05).start()
    try:
        yield writer, seen, avatars
    finally:
        feed.stop()
        writer.close()
        watcher.close()


def _next(seen: queue.Queue, timeout: float = 10.0) -> set[str] | None:
    return seen.get(timeout=timeout)


def test_the_feed_reports_decisions_new_results_and_publishes_from_another_connection(db_url, tmp_path):
    with _two_studios(db_url, tmp_path) as (writer, seen, avatars):
        rid = record_result(writer, "u00001", tiny_result(avatars[1]))
        assert _next(seen) == {"u00001"}
        writer.decide(["u00001"], "approved", reviewer="ed")
        assert _next(seen) == {"u00001"}
        publish_result(writer, LocalDirectoryStore(tmp_path / "store"), rid)
        assert _next(seen) == {"u00001"}
        assert seen.empty()


def test_a_rolled_back_write_is_not_reported(db_url, tmp_path):
    with _two_studios(db_url, tmp_path) as (writer, seen, _):
        with writer.engine.connect() as conn:
            upsert_state(conn, "u00000", result_id=None)
            conn.rollback()
        with writer.engine.begin() as conn:  # a committed change after it, to know the feed has caught up
            upsert_state(conn, "u00002", result_id=None)
        assert _next(seen) == {"u00002"}  # the feed reports in commit order: anything before it came first
        assert seen.empty()


def test_a_feed_that_loses_its_connection_comes_back_and_says_anything_may_have_changed(pg_url, tmp_path):
    with _two_studios(pg_url, tmp_path) as (writer, seen, _):
        with writer.engine.begin() as conn:
            conn.execute(text(_KILL_LISTENER))
        assert _next(seen) is None
        with writer.engine.begin() as conn:
            upsert_state(conn, "u00002", result_id=None)
        assert _next(seen) == {"u00002"}
