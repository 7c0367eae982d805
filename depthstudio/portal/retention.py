"""Retention: the PNG bytes of superseded results are freed, the history of what was made and decided is kept.

Every regeneration adds a result with its PNGs (``depthstudio_result_blobs``), and nothing ever removed them, so
a portal that regenerates often grows without bound. ``prune`` deletes the blob rows of results outside what is
kept, per user:

- the ``keep`` most recent results (``retention.keep_results``), which the studio's compare view reads;
- the user's current result (the one the status, the review and a publish are about);
- the result whose URL the portal shows now (the live map), however old;
- a result an open job still carries (a publish that has not run yet).

The result rows and their reviews stay (who decided what, and when, is never pruned); a pruned result is one
without a blob row. Each batch is one transaction that re-checks the rules, so a result that became current (or
live) meanwhile is kept, and an interrupted prune leaves only complete batches behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, String, cast, delete, exists, func, or_, select
from sqlalchemy.engine import Connection

from depthstudio.portal.engine import retry_on_disconnect, writer
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import jobs, result_blobs, results, user_state
from depthstudio.portal.vocabulary import ACTIVE

_BATCH = 500


@dataclass
class PruneReport:
    """What a prune freed (or, dry, would free): blob rows deleted, and bytes by kind."""

    rows: int = 0  # blob rows of superseded results
    png8_bytes: int = 0  # ... their 8-bit maps
    layer_bytes: int = 0  # ... their plates and mattes
    dry_run: bool = False

    @property
    def bytes(self) -> int:
        return self.png8_bytes + self.layer_bytes

    def line(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        return (
            f"{verb} {self.rows} superseded result blob rows: "
            f"{_mib(self.bytes)} ({_mib(self.png8_bytes)} maps, {_mib(self.layer_bytes)} plates and mattes)"
        )


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _kept(portal: Portal, keep: int) -> ColumnElement[bool]:
    """True for a result that must keep its PNGs (see the module docstring), as a condition on ``results``."""
    u = portal.users
    newer = results.alias("newer")
    rank = (
        select(func.count())
        .select_from(newer)
        .where(newer.c.user_id == results.c.user_id, newer.c.id > results.c.id)
        .scalar_subquery()
    )
    current = exists().where(user_state.c.user_id == results.c.user_id, user_state.c.result_id == results.c.id)
    uid = u.id if isinstance(u.id.type, String) else cast(u.id, String(255))
    live = exists().where(
        uid == results.c.user_id, results.c.published_url.is_not(None), u.depth == results.c.published_url
    )
    carried = exists().where(jobs.c.result_id == results.c.id, jobs.c.status.in_(ACTIVE))
    return or_(rank < keep, current, live, carried)


def _candidates(portal: Portal, keep: int) -> Select[tuple[int]]:
    return (
        select(results.c.id)
        .join(result_blobs, result_blobs.c.result_id == results.c.id)
        .where(~_kept(portal, keep))
        .order_by(results.c.id)
    )


def _batches(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


def _length(col: ColumnElement[bytes]) -> ColumnElement[int]:
    return func.coalesce(func.sum(func.length(col)), 0)


def _measure(conn: Connection, ids: list[int]) -> tuple[int, int]:
    b = result_blobs
    row = conn.execute(
        select(_length(b.c.png8), _length(b.c.plate_png), _length(b.c.matte_png)).where(b.c.result_id.in_(ids))
    ).one()
    return int(row[0]), int(row[1]) + int(row[2])


@retry_on_disconnect
def prune(
    portal: Portal, *, keep: int, dry_run: bool = False, on_batch: Callable[[list[int]], None] | None = None
) -> PruneReport:
    """Free the PNGs of superseded results beyond ``keep`` per user (see the module docstring).

    ``on_batch`` is told each batch's result ids before its transaction begins (progress).
    """
    if keep < 1:
        raise ValueError("keep must be at least 1 (the current result is always kept)")
    report = PruneReport(dry_run=dry_run)
    with portal.engine.connect() as conn:
        ids = [int(i) for i in conn.execute(_candidates(portal, keep)).scalars()]
        if dry_run:
            for chunk in _batches(ids):
                png8, layers = _measure(conn, chunk)
                report.rows += len(chunk)
                report.png8_bytes += png8
                report.layer_bytes += layers
            return report
    for chunk in _batches(ids):
        if on_batch is not None:
            on_batch(chunk)
        with writer(portal.engine).begin() as conn:
            # The rules again, inside the transaction: what became current or live since the listing stays.
            still = [int(i) for i in conn.execute(_candidates(portal, keep).where(results.c.id.in_(chunk))).scalars()]
            if not still:
                continue
            png8, layers = _measure(conn, still)
            conn.execute(delete(result_blobs).where(result_blobs.c.result_id.in_(still)))
        report.rows += len(still)
        report.png8_bytes += png8
        report.layer_bytes += layers
    return report
