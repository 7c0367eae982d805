"""Create and upgrade depthstudio's tables with Alembic: explicitly (``depthstudio db upgrade``), or at the start of
a writing command when the role may create tables. Read-only paths only check, and say what to run."""

from __future__ import annotations

import functools
import importlib.resources
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from depthstudio.errors import PortalError
from depthstudio.portal.tables import VERSION_TABLE

_SCRIPTS = Path(str(importlib.resources.files("depthstudio.portal") / "migrations"))
# Several workers may start at once against one PostgreSQL database: serialise their migrations.
_LOCK_KEY = zlib.crc32(b"depthstudio-migrations")
# Alembic is imported only when a check finds the schema not current (or a command asks): it costs about a
# quarter of a second of every studio start otherwise.
if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

_REVISION_LINE = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)""", re.M)


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Idempotent; cheap when already at head (one SELECT)."""
    from alembic import command

    if current_revision(engine) == head_revision():
        return
    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def may_create_tables(engine: Engine) -> bool:
    """Whether the connected role may create tables where depthstudio's live (PostgreSQL: the current schema)."""
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return True  # SQLite: whoever can open the file for writing can create tables in it
        return bool(conn.execute(text("SELECT has_schema_privilege(current_schema(), 'CREATE')")).scalar())


def ensure_current(engine: Engine, *, auto_upgrade: bool) -> None:
    """Upgrade when allowed and possible; otherwise fail, before anything is written, with the command to run."""
    if _stored_revisions(engine) == [_scripted_head()]:
        return  # the usual case, answered without importing alembic
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if auto_upgrade and may_create_tables(engine):
        upgrade(engine)
        return
    state = "are not created yet" if current is None else f"are at schema version {current}, not {head}"
    why = " (the database role may not create tables here)" if auto_upgrade else " (this command only reads)"
    raise PortalError(
        f"depthstudio's tables in this database {state}{why}; run `depthstudio db upgrade` "
        "as a role that may create tables in the portal's database, then retry",
        kind="schema_not_current",
    )


@functools.cache
def _scripted_head() -> str | None:
    """The head revision read from the scripts' ``revision``/``down_revision`` lines, without alembic.

    None unless exactly one revision is nobody's ``down_revision``; callers then ask alembic (a test holds this
    equal to alembic's head).
    """
    revisions, parents = set(), set()
    for script in (_SCRIPTS / "versions").glob("*.py"):
        for key, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            (revisions if key == "revision" else parents).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revisions(engine: Engine) -> list[str] | None:
    """The version table's rows by plain SQL; None when it does not exist yet."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        return [row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]
