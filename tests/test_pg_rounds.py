"""PostgreSQL's claim and result rounds are one statement each, on a connection kept for the run: one network wait
per round (portal/queue_postgres.py). Their fencing is tested with SQLite's rounds in test_grouped_queue.py, which
runs on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select, text

from depthstudio.config import PortalConfig
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import jobs
from tests.helpers import make_portal, portal_config, tiny_result, write_avatars


def _queue(pg_url: str, tmp_path: Path, n: int) -> tuple[Portal, JobQueue, list[str]]:
    avatars = write_avatars(tmp_path / "avatars", n)
    make_portal(pg_url, avatars)
    portal = Portal.open(portal_config(pg_url, tmp_path))
    queue = JobQueue(portal, lease_s=3600.0)
    queue.enqueue([(f"u{i:05d}", a) for i, a in enumerate(avatars)])
    return portal, queue, avatars


@contextmanager
def _counting(engine: Engine) -> Iterator[dict[str, int]]:
    """Statements sent and connections taken from the pool (each taking costs the pool's ping)."""
    seen = {"statements": 0, "checkouts": 0}

    def statement(*_: object) -> None:
        seen["statements"] += 1

    def checkout(*_: object) -> None:
        seen["checkouts"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine.pool, "checkout", checkout)


def test_a_claim_round_and_a_result_round_are_one_statement_each_on_a_kept_connection(pg_url, tmp_path):
    portal, queue, _ = _queue(pg_url, tmp_path, 12)
    queue.keep_connections()
    queue.claim_many("w", 1)  # opens the connection the rounds keep
    with _counting(portal.engine) as claim:
        claimed = queue.claim_many("w", 5)
    with _counting(portal.engine) as complete:
        ids = queue.complete_many([(job, tiny_result(job.avatar_url)) for job in claimed])
    assert len(claimed) == 5 and None not in ids
    assert claim == {"statements": 1, "checkouts": 0}
    assert complete == {"statements": 1, "checkouts": 0}
    queue.close()
    portal.close()


def test_a_kept_connection_that_died_is_dropped_and_the_round_runs_again_on_a_fresh_one(pg_url, tmp_path):
    portal, queue, _ = _queue(pg_url, tmp_path, 6)
    queue.keep_connections()
    first = queue.claim_many("w", 2)
    with portal.engine.connect() as admin:  # the server drops every other connection (a restart, a failover)
        admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = :d"
            ),
            {"d": portal.engine.url.database},
        )
        admin.commit()
    second = queue.claim_many("w", 2)
    assert len(second) == 2 and not {j.id for j in first} & {j.id for j in second}
    assert None not in queue.complete_many([(job, tiny_result(job.avatar_url)) for job in second])
    queue.close()
    portal.close()


def test_a_run_gives_its_kept_connections_back_to_the_pool(pg_url, tmp_path):
    avatars = write_avatars(tmp_path / "avatars", 20)
    make_portal(pg_url, avatars)
    portal = Portal.open(portal_config(pg_url, tmp_path))
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, portal.config, concurrency=4).run()
    assert summary.ok and summary.progress.done == 20
    assert portal.engine.pool.checkedout() == 0
    with portal.engine.connect() as conn:
        assert set(conn.execute(select(jobs.c.status)).scalars()) == {"done"}
    portal.close()


def test_a_claim_finds_the_photos_of_a_portal_table_in_its_own_schema_with_integer_ids(pg_url, tmp_path):
    """The one-statement claim reads the users table by its configured, quoted names (not the demo's)."""
    photos = write_avatars(tmp_path / "avatars", 3)
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text('CREATE SCHEMA "Site"'))
        conn.execute(text('CREATE TABLE "Site"."Speaker" ("speakerId" INTEGER PRIMARY KEY, "fullName" TEXT,'
                          ' "photoURL" TEXT, "depthURL" TEXT)'))  # fmt: skip
        for pk, photo in zip((7, 12, 40), [*photos[:2], None], strict=True):
            conn.execute(
                text('INSERT INTO "Site"."Speaker" VALUES (:pk, :n, :p, NULL)'), {"pk": pk, "n": f"S{pk}", "p": photo}
            )
    engine.dispose()
    cfg = portal_config(pg_url, tmp_path)
    cfg.portal = PortalConfig(url=pg_url, schema="Site", table="Speaker", id_column="speakerId",
                              name_column="fullName", avatar_column="photoURL", depth_column="depthURL")  # fmt: skip
    portal = Portal.open(cfg)
    queue = JobQueue(portal)
    # queued with photos the users have since replaced: the claim points each job at the current one
    queue.enqueue([("7", "https://old/7.png"), ("12", "https://old/12.png"), ("40", "https://old/40.png")])
    claimed = {job.user_id: job for job in queue.claim_many("w", 3)}
    assert set(claimed) == {"7", "12", "40"}
    assert (claimed["7"].avatar_url, claimed["12"].avatar_url) == (photos[0], photos[1])
    assert not claimed["7"].no_photo and not claimed["12"].no_photo and claimed["40"].no_photo
    with portal.engine.connect() as conn:
        stored = dict(conn.execute(select(jobs.c.user_id, jobs.c.avatar_url)).all())
    assert stored == {"7": photos[0], "12": photos[1], "40": "https://old/40.png"}
    for job in claimed.values():
        queue.release(job)
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, cfg, concurrency=2).run()
    assert summary.ok and summary.progress.done == 2  # the user without a photo is not "missing": not queued
    portal.close()
