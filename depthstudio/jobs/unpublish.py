"""Undo of a publish: the portal's depth column goes back to the value it held before depthstudio wrote it.

The publisher records every portal write (``depthstudio_publications``: the value before and the URL written) in
the transaction that makes it. Undo is a compare-and-set the other way: the column is put back only while it still
shows the URL depthstudio wrote; a column changed since (a new photo cleared it, another tool wrote it) is left
alone and the undo says so. The undo is recorded in the review history ("unpublished"), and the result goes back
to "awaiting review", so that the next "Publish approved" does not put the same map straight back.

The stored asset is kept, not deleted: an asset is keyed by user and photo, so the value restored may live in the
very same asset; a CDN keeps serving a deleted asset from its caches for a while anyway, so deleting is no
take-down; and a later publish of the same map reuses the same key. Two restorations are refused because the map
to restore no longer exists: the earlier asset was deleted by ``storage.delete_superseded``, or this publish
overwrote it (same user and photo, so the same key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from depthstudio.errors import DepthstudioError
from depthstudio.portal.base import upsert_state, utcnow
from depthstudio.portal.engine import retry_on_disconnect, writer
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import publications, results, reviews, user_state

UNPUBLISHED = "unpublished"  # the review-history entry an undo leaves


class UnpublishError(DepthstudioError):
    """Nothing to undo, or the portal no longer shows what depthstudio wrote; the portal is unchanged."""

    kind = "unpublish"


@dataclass(frozen=True)
class UnpublishOutcome:
    user_id: str
    result_id: int
    removed: str  # the URL depthstudio had written
    restored: str | None  # what the portal shows again (None: no depth map, the plain photo)

    def line(self) -> str:
        shown = self.restored or "no depth map (the web shows the plain photo)"
        return f"{self.user_id}: publish undone; the portal shows {shown} again (the stored asset is kept)"


def portal_value(conn: Connection, portal: Portal, user_id: str) -> str | None:
    """The portal's depth column for one user, locked for the rest of the transaction on PostgreSQL."""
    u = portal.users
    stmt = select(u.depth).where(u.id == u.portal_id(user_id))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return conn.execute(stmt).scalar_one_or_none()


def record_publication(conn: Connection, user_id: str, result_id: int, previous: str | None, written: str) -> None:
    """In the publisher's compare-and-set transaction: what the column held, and what it holds now."""
    conn.execute(
        publications.insert().values(
            user_id=str(user_id), result_id=result_id, previous=previous, written=written, published_at=utcnow()
        )
    )


@retry_on_disconnect
def mark_previous_deleted(portal: Portal, user_id: str, url: str) -> None:
    """The publisher deleted the asset behind ``url`` (superseded): an undo can no longer restore it."""
    with writer(portal.engine).begin() as conn:
        conn.execute(
            update(publications)
            .where(publications.c.user_id == str(user_id), publications.c.previous == url)
            .values(previous_deleted=True)
        )


def last_publication(portal: Portal, user_id: str) -> dict[str, Any] | None:
    """The user's latest publish that has not been undone, or None."""
    with portal.engine.connect() as conn:
        row = conn.execute(_latest(user_id)).mappings().first()
    return dict(row) if row else None


def _latest(user_id: str) -> Any:
    p = publications
    return select(p).where(p.c.user_id == str(user_id), p.c.undone_at.is_(None)).order_by(p.c.id.desc()).limit(1)


@retry_on_disconnect
def unpublish(portal: Portal, user_id: str, *, by: str) -> UnpublishOutcome:
    """Undo the user's latest publish by compare-and-set, in one transaction; raises ``UnpublishError`` (and
    changes nothing) when there is none, when its map cannot be restored, or when the portal changed since."""
    u, p = portal.users, publications
    with writer(portal.engine).begin() as conn:
        latest = _latest(user_id)
        if conn.dialect.name == "postgresql":
            latest = latest.with_for_update()
        pub = conn.execute(latest).mappings().first()
        if pub is None:
            raise UnpublishError(f"user {user_id} has no publish by depthstudio to undo", kind="nothing_to_undo")
        if pub["previous_deleted"]:
            raise UnpublishError(
                f"the depth map user {user_id} had before was deleted from the store when this one was published "
                "(storage.delete_superseded); nothing changed: regenerate instead",
                kind="previous_deleted",
            )
        if _overwritten(conn, pub):
            raise UnpublishError(
                f"this publish replaced the asset of user {user_id}'s earlier map (same photo, same asset), so the "
                "earlier map no longer exists to restore; nothing changed: reject and regenerate instead",
                kind="previous_overwritten",
            )
        now = portal_value(conn, portal, user_id)
        if now != pub["written"]:
            shown = f"“{now}”" if now else "no depth map"
            raise UnpublishError(
                f"the portal no longer shows the depth map depthstudio published for user {user_id} (it shows "
                f"{shown} now: a new photo or another tool changed it); nothing changed",
                kind="changed_since",
            )
        restored = conn.execute(
            update(u.table)
            .where(u.id == u.portal_id(user_id), u.depth == pub["written"])
            .values({u.depth.name: pub["previous"]})
        ).rowcount
        if not restored:  # SQLite has no row lock: the check above and this write must agree
            raise UnpublishError(f"the portal changed under the undo of user {user_id}; nothing changed")
        stamp = utcnow()
        conn.execute(update(p).where(p.c.id == pub["id"]).values(undone_at=stamp, undone_by=by))
        conn.execute(
            update(results)
            .where(results.c.id == pub["result_id"], results.c.published_url == pub["written"])
            .values(published_url=None, published_location=None, published_at=None)
        )
        restored_text = pub["previous"] or "no depth map"
        review_id = conn.execute(
            reviews.insert()
            .values(
                result_id=pub["result_id"],
                user_id=str(user_id),
                decision=UNPUBLISHED,
                reviewer=by,
                note=f"publish undone; the portal shows {restored_text} again",
                created_at=stamp,
            )
            .returning(reviews.c.id)
        ).scalar_one()
        current = conn.execute(
            select(user_state.c.result_id).where(user_state.c.user_id == str(user_id))
        ).scalar_one_or_none()
        if current == pub["result_id"]:  # a newer result's own decision is not this undo's to change
            upsert_state(conn, str(user_id), review_id=review_id)
    return UnpublishOutcome(str(user_id), pub["result_id"], pub["written"], pub["previous"])


def _overwritten(conn: Connection, pub: Any) -> bool:
    """Whether the value to restore is one of our earlier maps stored in the asset this publish overwrote."""
    if not pub["previous"]:
        return False
    r = results
    location = conn.execute(select(r.c.published_location).where(r.c.id == pub["result_id"])).scalar_one_or_none()
    earlier = conn.execute(
        select(r.c.published_location).where(r.c.user_id == pub["user_id"], r.c.published_url == pub["previous"])
    ).scalars()
    return location is not None and location in set(earlier)
