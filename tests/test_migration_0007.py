"""Migration 0007 drops the blobs' png16 and the results' location, keeping every result and its 8-bit map; the
downgrade gives "pruned" back to the results without a blob row (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import inspect, text

from depthstudio.portal import migrate
from depthstudio.portal.engine import make_engine
from tests.helpers import make_portal
from tests.test_migration_0003 import _to

_RESULT = (
    "INSERT INTO depthstudio_results (id, user_id, avatar_url, avatar_sha256, backend, model, location, width, "
    "height, created_at) VALUES (:id, 'u00000', 'https://img.example/a.png', 'ab', 'synthetic', 'm', :location, 8, "
    "8, '2026-01-01')"
)


def _columns(engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_png16_and_location_are_dropped_and_no_result_or_map_is_lost(db_url):
    make_portal(db_url, ["https://img.example/a.png"])
    engine = make_engine(db_url)  # the app's engine: SQLite with foreign keys on, as in production
    try:
        _to(engine, "0006_13a")
        with engine.begin() as conn:
            conn.execute(text(_RESULT), {"id": 1, "location": "db"})
            conn.execute(text(_RESULT), {"id": 2, "location": "pruned"})  # prune deleted its blob row
            conn.execute(
                text("INSERT INTO depthstudio_result_blobs (result_id, png8, png16) VALUES (1, :png8, :png16)"),
                {"png8": b"eight", "png16": b"sixteen"},
            )
        migrate.upgrade(engine)
        assert "location" not in _columns(engine, "depthstudio_results")
        assert "png16" not in _columns(engine, "depthstudio_result_blobs")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM depthstudio_results")).scalar_one() == 2
            assert conn.execute(text("SELECT result_id, png8 FROM depthstudio_result_blobs")).all() == [(1, b"eight")]
        _to(engine, "0006_13a", down=True)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, location FROM depthstudio_results ORDER BY id")).all()
        assert rows == [(1, "db"), (2, "pruned")] and "png16" in _columns(engine, "depthstudio_result_blobs")
    finally:
        engine.dispose()
