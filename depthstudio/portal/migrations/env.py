"""Alembic environment: runs on the connection handed over by ``depthstudio.portal.migrate``.

Only ``depthstudio_*`` tables are ever touched; the portal's own tables are invisible to autogenerate.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from depthstudio.portal.tables import PREFIX, VERSION_TABLE, metadata


def _ours(name: str | None, type_: str, _parent: Any) -> bool:
    return type_ != "table" or (name or "").startswith(PREFIX)


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=_ours,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
