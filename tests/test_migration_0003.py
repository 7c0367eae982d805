"""Migration 0003 drops the job columns nothing read, keeping every job and attempt (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from depthstudio.portal import migrate
from depthstudio.portal.engine import make_engine
from tests.helpers import make_portal


def _to(engine, revision: str, *, down: bool = False) -> None:
    cfg = migrate._alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_kind_and_backend_are_dropped_and_no_job_or_attempt_is_lost(db_url):
    make_portal(db_url, ["https://img.example/a.png"])
    engine = make_engine(db_url)  # the app's engine: SQLite with foreign keys on, as in production
    try:
        _to(engine, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO depthstudio_jobs (user_id, kind, status, avatar_url, backend, attempts, "
                    "max_attempts, created_at, updated_at) VALUES ('u00000', 'generate', 'failed', "
                    "'https://img.example/a.png', 'replicate', 1, 3, '2026-01-01', '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO depthstudio_attempts (job_id, worker, started_at) "
                    "SELECT id, 'w', '2026-01-01' FROM depthstudio_jobs"
                )
            )
        migrate.upgrade(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("depthstudio_jobs")}
        assert "kind" not in columns and "backend" not in columns and {"user_id", "status"} <= columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM depthstudio_jobs")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM depthstudio_attempts")).scalar_one() == 1
        _to(engine, "0002", down=True)
        columns = {c["name"] for c in inspect(engine).get_columns("depthstudio_jobs")}
        assert {"kind", "backend"} <= columns
    finally:
        engine.dispose()
