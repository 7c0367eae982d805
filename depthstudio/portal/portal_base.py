"""What every part of the portal repository shares: the configuration, the engine, the reflected users table,
the one way to connect, and the write helpers for depthstudio's own tables."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from depthstudio.config import Config
from depthstudio.errors import PortalError
from depthstudio.portal.schema import UsersTable
from depthstudio.portal.tables import user_state


def utcnow() -> dt.datetime:
    """Naive UTC, the one time base for every timestamp depthstudio writes (leases compare across machines)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def upsert(conn: Connection, table: Any, conflict: str, /, **values: Any) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE: concurrent writers of one row never hit a duplicate key."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = module.insert(table).values(values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c[conflict]], set_={k: stmt.excluded[k] for k in values if k != conflict}
        )
    )


def upsert_state(conn: Connection, user_id: str, **pointers: int | None) -> None:
    """Move one user's pointers (job_id / result_id / review_id) in the caller's transaction."""
    upsert_states(conn, [{"user_id": user_id, **pointers}])


def upsert_states(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Move many users' pointers in one statement; every row names the same pointers (and its ``user_id``)."""
    if not rows:
        return
    now = utcnow()
    stmt = _upsert_states_sql(conn.dialect.name, tuple(k for k in rows[0] if k != "user_id"))
    conn.execute(stmt, [{**row, "updated_at": now} for row in rows])


@functools.cache
def _upsert_states_sql(dialect: str, pointers: tuple[str, ...]) -> Any:
    """Built once per dialect and set of pointers: building and hashing it per call cost more than running it."""
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(user_state)
    keys = [*pointers, "updated_at"]
    return stmt.on_conflict_do_update(index_elements=[user_state.c.user_id], set_={k: stmt.excluded[k] for k in keys})


class PortalBase:
    """The state every part of ``Portal`` reads; each call takes its own connection, so the parts are thread-safe."""

    def __init__(self, config: Config, engine: Engine, users: UsersTable) -> None:
        self.config = config
        self.engine = engine
        self.users = users

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except OperationalError as exc:
            raise PortalError(
                f"lost the connection to the portal database: {exc.orig}", kind="unreachable", transient=True
            ) from None
