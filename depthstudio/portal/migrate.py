"""Create and upgrade depthstudio's tables with Alembic, automatically at start."""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from depthstudio.portal.tables import VERSION_TABLE

_SCRIPTS = Path(__file__).with_name("migrations")
# Several workers may start at once against one PostgreSQL database: serialise their migrations.
_LOCK_KEY = zlib.crc32(b"depthstudio-migrations")


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Idempotent; cheap when already at head (one SELECT)."""
    if current_revision(engine) == head_revision():
        return
    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
