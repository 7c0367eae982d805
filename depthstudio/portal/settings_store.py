"""Studio-wide settings kept in the portal database (key, JSON value, who changed it and when)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from depthstudio.portal.portal_base import PortalBase, upsert, utcnow
from depthstudio.portal.tables import settings


class Settings(PortalBase):
    def get_setting(self, key: str) -> Any:
        with self._connect() as conn:
            return conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar_one_or_none()

    def set_setting(self, key: str, value: Any, *, by: str) -> None:
        with self.engine.begin() as conn:
            upsert(conn, settings, "key", key=key, value=value, updated_by=by, updated_at=utcnow())
