"""Reading depthstudio's depth results: their rows and their stored PNGs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from depthstudio.portal.base import PortalBase
from depthstudio.portal.tables import result_blobs, results


@dataclass
class ResultRow:
    id: int
    user_id: str
    job_id: int | None
    avatar_url: str
    avatar_sha256: str
    backend: str
    model: str
    width: int
    height: int
    qa: dict[str, Any] | None
    qa_risk: float
    postprocess: dict[str, Any] | None
    created_at: dt.datetime
    published_url: str | None
    published_location: str | None
    published_at: dt.datetime | None


class ResultReads(PortalBase):
    def result(self, result_id: int) -> ResultRow | None:
        with self._connect() as conn:
            m = conn.execute(select(results).where(results.c.id == result_id)).mappings().first()
        return ResultRow(**{k: m[k] for k in ResultRow.__dataclass_fields__}) if m else None

    def results_for_user(self, user_id: str) -> list[ResultRow]:
        with self._connect() as conn:
            rows = conn.execute(
                select(results).where(results.c.user_id == str(user_id)).order_by(results.c.id.desc())
            ).mappings()
            return [ResultRow(**{k: m[k] for k in ResultRow.__dataclass_fields__}) for m in rows]

    def result_png(self, result_id: int, *, bits: int = 8) -> bytes | None:
        col = result_blobs.c.png16 if bits == 16 else result_blobs.c.png8
        with self._connect() as conn:
            return conn.execute(select(col).where(result_blobs.c.result_id == result_id)).scalar_one_or_none()
