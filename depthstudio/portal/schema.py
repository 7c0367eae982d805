"""The portal's users table, reflected by the configured names: never created, never altered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def _has_table(insp: Any, table: str, schema: str) -> bool:
    try:
        return bool(insp.has_table(table, schema=schema))
    except SQLAlchemyError:
        return False


def reflect_users(engine: Engine, cfg: PortalConfig) -> UsersTable:
    schema = cfg.schema_name() or None
    where = f"{schema}.{cfg.table}" if schema else cfg.table
    if schema is None and cfg.studio_schema and engine.dialect.name == "postgresql":
        schema = "public"  # the search_path starts with depthstudio's own schema: the portal's is named
    try:
        insp = inspect(engine)
        searched = schema or insp.default_schema_name
        schemas = insp.get_schema_names() if engine.dialect.name == "postgresql" else []
        tables = insp.get_table_names(schema=schema) if schema is None or schema in schemas or not schemas else []
    except OperationalError as exc:
        host = f" at {engine.url.host}:{engine.url.port or 5432}" if engine.url.host else ""  # never the password
        raise PortalError(
            f"cannot connect to the portal database{host}: {exc.orig}", kind="unreachable", transient=True
        ) from None
    except SQLAlchemyError as exc:
        raise PortalError(f"cannot read the portal database: {exc}", kind="database") from None
    if cfg.table not in tables:
        listed = ", ".join(sorted(t for t in tables if not t.startswith("depthstudio_"))) or "(none)"
        if schemas and schema is not None and schema not in schemas:
            seen = f"there is no schema {schema!r} in the portal database"
        else:
            seen = f"the tables in schema {searched!r} are: {listed}" if searched else f"its tables are: {listed}"
        elsewhere = [
            s
            for s in schemas
            if s != searched and not s.startswith(("pg_", "information_schema")) and _has_table(insp, cfg.table, s)
        ]
        hint = f" A table {cfg.table!r} exists in schema {', '.join(map(repr, elsewhere))}." if elsewhere else ""
        raise SchemaError(
            f"the users table {where!r} does not exist in the portal database: {seen}.{hint} Set [portal] table "
            "(or --users-table) and [portal] schema (or ?schema= in the URL, as Prisma writes it)."
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
