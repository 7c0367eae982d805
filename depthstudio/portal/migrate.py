"""Create and upgrade depthstudio's tables with Alembic: explicitly (``depthstudio db upgrade``), or at the start of
a writing command when the role may create tables. Read-only paths only check, and say what to run."""

from __future__ import annotations

import functools
import importlib.resources
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

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

    if _stored_revisions(engine) == [head_revision()]:
        return
    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            own = studio_schema(conn)
            if own:  # first in the search_path (engine.make_engine): the tables are made, or moved, there
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{own}"'))
                _move_into(conn, own)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def studio_schema(conn: Connection) -> str | None:
    """PostgreSQL: depthstudio's own schema, the first of the search_path that ``make_engine`` sets; None when the
    tables live beside the portal's (no such setting)."""
    first = str(conn.execute(text("SELECT current_setting('search_path')")).scalar() or "").split(",")[0].strip()
    first = first.strip('"')
    return first if first and first not in ("$user", "public") else None


def _move_into(conn: Connection, own: str) -> None:
    """An install from before depthstudio had its own schema keeps its tables beside the portal's: they move, with
    their indexes, constraints, sequences and triggers, and the change feed's trigger function, in this transaction.
    The version table moves too, so alembic (which looks in the first schema of the search_path) finds it."""
    elsewhere = conn.execute(
        text(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_name LIKE 'depthstudio\\_%' AND table_schema <> :own AND table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY table_schema, table_name"
        ),
        {"own": own},
    ).all()
    if not elsewhere:
        return
    schemas = sorted({schema for schema, _ in elsewhere})
    if len(schemas) > 1 or inspect(conn).has_table(VERSION_TABLE, schema=own):
        raise PortalError(
            f"depthstudio's tables are in {', '.join(schemas)} and in {own}; move them into {own} by hand "
            "(ALTER TABLE … SET SCHEMA), then run `depthstudio db upgrade` again",
            kind="schema_not_current",
        )
    for schema, table in elsewhere:
        conn.execute(text(f'ALTER TABLE "{schema}"."{table}" SET SCHEMA "{own}"'))
    functions = conn.execute(
        text(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = 'depthstudio_note_change' AND n.nspname <> :own"
        ),
        {"own": own},
    ).all()
    for (schema,) in functions:
        conn.execute(text(f'ALTER FUNCTION "{schema}".depthstudio_note_change() SET SCHEMA "{own}"'))


def may_create_tables(engine: Engine) -> bool:
    """Whether the connected role may create tables where depthstudio's live (PostgreSQL: its own schema, or the
    database when that schema is still to be created; else the current schema)."""
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return True  # SQLite: whoever can open the file for writing can create tables in it
        own = studio_schema(conn)
        if own is not None:
            exists = conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": own}).first()
            if exists is None:
                return bool(conn.execute(text("SELECT has_database_privilege(current_database(), 'CREATE')")).scalar())
            return bool(conn.execute(text("SELECT has_schema_privilege(:n, 'CREATE')"), {"n": own}).scalar())
        return bool(conn.execute(text("SELECT has_schema_privilege(current_schema(), 'CREATE')")).scalar())


def ensure_current(engine: Engine, *, auto_upgrade: bool) -> None:
    """Upgrade when allowed and possible; otherwise fail, before anything is written, with the command to run."""
    if _stored_revisions(engine) == [_scripted_head()]:
        return  # the usual case, answered without importing alembic
    current, head = current_revision(engine), head_revision()
    # Current but beside the portal's tables (an install from before the own schema): it works as it is (the
    # search_path ends with public), and moves at the first upgrade a role that may create the schema runs.
    if current == head and not (auto_upgrade and may_create_tables(engine)):
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
        own = studio_schema(conn) if conn.dialect.name == "postgresql" else None
        if not inspect(conn).has_table(VERSION_TABLE, schema=own):  # not in the own schema (yet): not current
            return None
        return [row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]
