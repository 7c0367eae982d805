"""The connection pool is sized to the run's concurrency: every worker thread can hold a connection at once."""

from __future__ import annotations

import threading

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import PublishApprovedJob
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.pool import connections_for, pool_capacity
from depthstudio.portal.repository import Portal
from depthstudio.storage.folder_store import LocalDirectoryStore
from tests.helpers import make_portal, portal_config, write_avatars


def _hold_all_at_once(engine, n: int) -> list[BaseException]:
    """``n`` threads each check out a connection and wait until all ``n`` hold one (as a run's threads may)."""
    barrier = threading.Barrier(n, timeout=20)
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with engine.connect():
                barrier.wait()
        except BaseException as exc:  # a pool timeout, or the barrier broken by one
            errors.append(exc)

    threads = [threading.Thread(target=hold) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_a_run_at_concurrency_32_can_hold_a_connection_per_thread(db_url, tmp_path):
    make_portal(db_url, write_avatars(tmp_path / "a", 1))
    portal = Portal.open(portal_config(db_url, tmp_path))  # opened for the configured concurrency (4)
    runner = BulkRunner(portal, SyntheticBackend(), None, policy=portal.config.fetch.policy(), concurrency=32)
    assert (pool_capacity(runner.queue.engine) or 0) >= connections_for(32)
    assert _hold_all_at_once(runner.queue.engine, connections_for(32)) == []
    portal.close()


def test_a_publish_run_sizes_the_pool_to_its_concurrency(db_url, tmp_path):
    make_portal(db_url, write_avatars(tmp_path / "a", 1))
    portal = Portal.open(portal_config(db_url, tmp_path))
    PublishApprovedJob(portal, LocalDirectoryStore(tmp_path / "s"), portal.config, concurrency=24)
    assert (pool_capacity(portal.engine) or 0) >= connections_for(24)
    portal.close()


def test_a_run_within_the_pool_keeps_the_engine_it_was_given(db_url, tmp_path):
    make_portal(db_url, write_avatars(tmp_path / "a", 1))
    portal = Portal.open(portal_config(db_url, tmp_path))
    engine = portal.engine
    BulkRunner(portal, SyntheticBackend(), None, policy=portal.config.fetch.policy(), concurrency=2)
    assert portal.engine is engine
    portal.close()
