"""The portal's users table, reflected by the configured names: never created, never altered."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Engine, MetaData, Table, inspect
from sqlalchemy.exc import NoSuchTableError, OperationalError, SQLAlchemyError

from depthstudio.config import PortalConfig
from depthstudio.errors import PortalError, SchemaError


@dataclass(frozen=True)
class UsersTable:
    """The reflected table and the four columns depthstudio uses, looked up once by their configured names."""

    table: Table
    id: Column
    name: Column
    avatar: Column
    depth: Column

    def portal_id(self, user_id: str) -> object:
        """depthstudio keeps ids as text; the portal's key may be an integer (Prisma ``Int @id``) or text (cuid)."""
        try:
            python_type = self.id.type.python_type
        except NotImplementedError:
            return user_id
        return int(user_id) if python_type is int else user_id


def reflect_users(engine: Engine, cfg: PortalConfig) -> UsersTable:
    schema = cfg.schema or None
    where = f"{schema}.{cfg.table}" if schema else cfg.table
    try:
        insp = inspect(engine)
        tables = insp.get_table_names(schema=schema)
    except OperationalError as exc:
        host = f" at {engine.url.host}:{engine.url.port or 5432}" if engine.url.host else ""  # never the password
        raise PortalError(
            f"cannot connect to the portal database{host}: {exc.orig}", kind="unreachable", transient=True
        ) from None
    except SQLAlchemyError as exc:
        raise PortalError(f"cannot read the portal database: {exc}", kind="database") from None
    if cfg.table not in tables:
        listed = ", ".join(sorted(t for t in tables if not t.startswith("depthstudio_"))) or "(none)"
        raise SchemaError(
            f"the users table {where!r} does not exist in the portal database; its tables are: {listed}. "
            "Set [portal] table in the config or --users-table."
        )
    try:
        table = Table(cfg.table, MetaData(), autoload_with=engine, schema=schema)
    except NoSuchTableError:
        raise SchemaError(f"the users table {where!r} cannot be read") from None
    wanted = {
        "id_column": cfg.id_column,
        "name_column": cfg.name_column,
        "avatar_column": cfg.avatar_column,
        "depth_column": cfg.depth_column,
    }
    missing = [f"{key} = {name!r}" for key, name in wanted.items() if name not in table.c]
    if missing:
        have = ", ".join(c.name for c in table.columns)
        raise SchemaError(
            f"the users table {where!r} has no column for {'; '.join(missing)}; its columns are: {have}. "
            "Set the [portal] *_column settings to the right names."
        )
    return UsersTable(
        table=table,
        id=table.c[cfg.id_column],
        name=table.c[cfg.name_column],
        avatar=table.c[cfg.avatar_column],
        depth=table.c[cfg.depth_column],
    )
