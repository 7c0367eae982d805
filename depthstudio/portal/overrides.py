"""Per-user shader overrides as stored rows; how they combine with the defaults is ``render.param_layers``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select

from depthstudio.portal.portal_base import PortalBase, upsert, utcnow
from depthstudio.portal.tables import overrides


class Overrides(PortalBase):
    def get_overrides(self, user_id: str) -> dict[str, Any]:
        with self._connect() as conn:
            value = conn.execute(
                select(overrides.c.params).where(overrides.c.user_id == str(user_id))
            ).scalar_one_or_none()
        return dict(value or {})

    def set_overrides(self, user_ids: Iterable[str], params: dict[str, Any], *, by: str) -> None:
        """Empty ``params`` removes the override (the user follows the global defaults again)."""
        now = utcnow()
        with self.engine.begin() as conn:
            for user_id in user_ids:
                if params:
                    upsert(
                        conn,
                        overrides,
                        "user_id",
                        user_id=str(user_id),
                        params=dict(params),
                        updated_by=by,
                        updated_at=now,
                    )
                else:
                    conn.execute(delete(overrides).where(overrides.c.user_id == str(user_id)))
