"""depthstudio's depth results: writing a new one (``NewResult``) and reading their rows and stored PNGs.

The writes live here, not in ``jobs``, so that whatever makes a map (the queue's runner, the demo seeding, the
touch-up in ``render``) records it through the portal below it, never through the job queue above it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from depthstudio.portal.engine import retry_on_disconnect
from depthstudio.portal.portal_base import PortalBase, upsert_state, utcnow
from depthstudio.portal.tables import photo_checks, result_blobs, results


class MadeMap(Protocol):
    """What a new result is made from (``depthstudio.depth.postprocess.DepthMap``), without importing depth."""

    depth: np.ndarray
    png8: bytes
    qa: dict[str, Any]
    options: dict[str, Any]
    levels8: np.ndarray | None


@dataclass
class ResultMade:
    """What a result was made from and by, and its size: the columns a new result and a stored row share."""

    avatar_url: str
    avatar_sha256: str
    backend: str
    model: str
    width: int
    height: int


NOT_YET = dt.datetime(1970, 1, 1)  # the checked_at of validators stored at generation: due at the next pass


@dataclass
class NewResult(ResultMade):
    """A new result row with its PNGs: what the pipeline hands the queue to record with the job's completion, or
    a map made outside the queue (``record_result``)."""

    png8: bytes
    qa: dict[str, Any] | None = None
    qa_risk: float = 0.0
    postprocess: dict[str, Any] | None = None
    plate_png: bytes | None = None  # the layered mode's images (depthstudio.render.result_plates)
    matte_png: bytes | None = None
    # The photo's validators as its server sent them with the bytes the map was made from: stored with the result
    # (depthstudio_photo_checks), so the first re-validation is a conditional request, not a full download.
    # Stored as never checked (``NOT_YET``): the next pass asks as it would have, only now conditionally.
    photo_etag: str | None = None
    photo_last_modified: str | None = None
    levels8: np.ndarray | None = field(default=None, repr=False, compare=False)  # png8's pixels; never stored

    @classmethod
    def from_depth_map(
        cls, depth_map: MadeMap, *, avatar_url: str, avatar_sha256: str, backend: str, model: str
    ) -> NewResult:
        return cls(
            avatar_url=avatar_url,
            avatar_sha256=avatar_sha256,
            backend=backend,
            model=model,
            width=depth_map.depth.shape[1],
            height=depth_map.depth.shape[0],
            png8=depth_map.png8,
            levels8=depth_map.levels8,
            qa=depth_map.qa,
            qa_risk=float(depth_map.qa.get("risk", 0.0)),
            postprocess=depth_map.options,
        )


# Rows are matched to their parameter sets by job id, not by RETURNING order: ``sort_by_parameter_order`` makes
# SQLAlchemy run a SQLite insert one row per statement (on PostgreSQL it stays batched either way).
_INSERT_RESULTS_BY_JOB = results.insert().returning(results.c.job_id, results.c.id)
_INSERT_RESULTS = results.insert().returning(results.c.id, sort_by_parameter_order=True)
_INSERT_BLOBS = result_blobs.insert()


def insert_results(conn: Connection, made: list[tuple[str, int | None, NewResult]]) -> list[int]:
    """Result rows and their PNGs for (user id, job id, result), in the caller's transaction; ids in order."""
    now = utcnow()
    rows = [
        {
            "user_id": user_id,
            "job_id": job_id,
            "avatar_url": new.avatar_url,
            "avatar_sha256": new.avatar_sha256,
            "backend": new.backend,
            "model": new.model,
            "width": new.width,
            "height": new.height,
            "qa": new.qa,
            "qa_risk": new.qa_risk,
            "postprocess": new.postprocess,
            "created_at": now,
        }
        for user_id, job_id, new in made
    ]
    job_ids = [job_id for _, job_id, _ in made]
    if None not in job_ids and len(set(job_ids)) == len(job_ids):
        by_job = dict(conn.execute(_INSERT_RESULTS_BY_JOB, rows).all())
        ids = [int(by_job[job_id]) for job_id in job_ids]
    else:  # results made outside the queue (no job): in parameter order
        ids = [int(rid) for rid in conn.execute(_INSERT_RESULTS, rows).scalars()]
    blobs = [
        {"result_id": rid, "png8": new.png8, "plate_png": new.plate_png, "matte_png": new.matte_png}
        for rid, (_, _, new) in zip(ids, made, strict=True)
    ]
    conn.execute(_INSERT_BLOBS, blobs)
    checks = [
        {"result_id": rid, "etag": new.photo_etag, "last_modified": new.photo_last_modified, "checked_at": NOT_YET}
        for rid, (_, _, new) in zip(ids, made, strict=True)
        if new.photo_etag or new.photo_last_modified
    ]
    if checks:
        conn.execute(photo_checks.insert(), checks)
    return ids


def insert_result(conn: Connection, user_id: str, job_id: int | None, new: NewResult) -> int:
    """The result row and its PNGs, in the caller's transaction."""
    return insert_results(conn, [(user_id, job_id, new)])[0]


@retry_on_disconnect
def record_result(portal: PortalBase, user_id: str, new: NewResult) -> int:
    """A result made outside the queue (an imported or hand-authored map) becomes the user's current one."""
    with portal.engine.begin() as conn:
        result_id = insert_result(conn, user_id, None, new)
        upsert_state(conn, user_id, result_id=result_id, review_id=None)
    return result_id


@dataclass
class ResultRow(ResultMade):
    """A stored result (its PNGs apart: ``result_png``)."""

    id: int
    user_id: str
    job_id: int | None
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

    def result_png(self, result_id: int) -> bytes | None:
        """The result's 8-bit map; None once ``prune`` freed it."""
        with self._connect() as conn:
            stmt = select(result_blobs.c.png8).where(result_blobs.c.result_id == result_id)
            return conn.execute(stmt).scalar_one_or_none()


@dataclass(frozen=True)
class LayerPngs:
    """A result's stored layered-mode images (depthstudio.render.result_plates): the plate and the matte."""

    plate_png: bytes
    matte_png: bytes


@retry_on_disconnect
def stored_layer_pngs(portal: PortalBase, result_id: int) -> LayerPngs | None:
    """The plate and matte stored with a result; None for a result made before layers were stored (or pruned)."""
    with portal.engine.connect() as conn:
        row = conn.execute(
            select(result_blobs.c.plate_png, result_blobs.c.matte_png).where(result_blobs.c.result_id == result_id)
        ).first()
    if row is None or row.plate_png is None or row.matte_png is None:
        return None
    return LayerPngs(bytes(row.plate_png), bytes(row.matte_png))
