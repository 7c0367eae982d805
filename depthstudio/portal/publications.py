"""The publisher's reads and writes: the result to publish, the compare-and-set of the portal's depth column, the
log of every portal write (``depthstudio_publications``) and its undo, each one transaction.

The protocol around them (the checks before an upload, the store calls, their order) is the job's:
:mod:`depthstudio.jobs.publish` and :mod:`depthstudio.jobs.unpublish` say why each step is where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from depthstudio.errors import DepthstudioError
from depthstudio.portal.engine import retry_on_disconnect, writer
from depthstudio.portal.listing import QA_FLAG_THRESHOLD
from depthstudio.portal.portal_base import PortalBase, upsert_state, utcnow
from depthstudio.portal.reviews import Decision, current_review
from depthstudio.portal.tables import publications, result_blobs, results, reviews, user_state


class Published(StrEnum):
    """How a publish ended."""

    PUBLISHED = "published"  # the portal shows the map now
    ALREADY = "already"  # an earlier run wrote this very URL (a rerun after a crash writes nothing)
    STALE = "stale"  # not written: the photo changed, or the result is no longer the current approved one
    HELD = "held"  # not written: nobody reviews this publish and the map's QA flagged it (it waits for an editor)


@dataclass(frozen=True)
class PortalShows:
    """The portal's own columns for one user, as read."""

    avatar: str | None
    depth: str | None


@dataclass(frozen=True)
class ToPublish:
    """A result as the publisher reads it: what it was made from, its 8-bit map, and what the portal shows now
    (``shows`` None: the user is gone from the portal)."""

    result_id: int
    user_id: str
    avatar_url: str
    avatar_sha256: str
    published_url: str | None
    png8: bytes
    shows: PortalShows | None
    qa_flags: tuple[str, ...] = ()  # the checks that flagged the map (``depth.qa``'s report, as stored)


@dataclass(frozen=True)
class AssetRef:
    """A stored asset as the results table records it (``storage.StoredAsset`` without its size)."""

    url: str
    location: str


@retry_on_disconnect
def read_to_publish(portal: PortalBase, result_id: int) -> ToPublish:
    u = portal.users
    with portal.engine.connect() as conn:
        r = conn.execute(select(results).where(results.c.id == result_id)).mappings().one()
        png = conn.execute(select(result_blobs.c.png8).where(result_blobs.c.result_id == result_id)).scalar_one()
        now = conn.execute(select(u.avatar, u.depth).where(u.id == u.portal_id(r["user_id"]))).first()
    return ToPublish(
        result_id=int(r["id"]),
        user_id=r["user_id"],
        avatar_url=r["avatar_url"],
        avatar_sha256=r["avatar_sha256"],
        published_url=r["published_url"],
        png8=png,
        shows=PortalShows(now[0], now[1]) if now is not None else None,
        qa_flags=tuple((r["qa"] or {}).get("flags") or ()),
    )


def _blocked(conn: Connection, user_id: str, result_id: int, approval: bool, *, lock: bool) -> Published | None:
    """Why the result may not be published now, or None: STALE unless it is the user's current one and (with
    review on) approved; HELD when nobody reviews this publish and the map's QA flagged it (an editor's approval
    lifts that: the map was looked at).

    ``lock`` takes the user-state row FOR UPDATE (PostgreSQL), so a decision or a regeneration committed by
    another editor waits for this transaction instead of slipping in between the check and the write.
    """
    s, v = user_state, reviews
    stmt = select(s.c.result_id, v.c.decision, results.c.qa_risk).select_from(
        s.outerjoin(v, current_review(s, v)).outerjoin(results, results.c.id == s.c.result_id)
    )
    stmt = stmt.where(s.c.user_id == str(user_id))
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=s)
    row = conn.execute(stmt).first()
    if row is None or row.result_id != result_id:
        return Published.STALE
    if row.decision == Decision.APPROVED:
        return None
    if approval:
        return Published.STALE
    return Published.HELD if (row.qa_risk or 0.0) >= QA_FLAG_THRESHOLD else None


@retry_on_disconnect
def publish_blocked(portal: PortalBase, user_id: str, result_id: int, approval: bool) -> Published | None:
    """The check before an upload (unlocked): why the result may not be published now, or None."""
    with portal.engine.connect() as conn:
        return _blocked(conn, user_id, result_id, approval, lock=False)


@retry_on_disconnect
def previous_asset(portal: PortalBase, user_id: str, result_id: int) -> AssetRef | None:
    """The asset of the user's latest published result other than ``result_id`` (what a publish supersedes)."""
    with portal.engine.connect() as conn:
        row = conn.execute(
            select(results.c.published_url, results.c.published_location)
            .where(results.c.user_id == user_id, results.c.id != result_id, results.c.published_url.is_not(None))
            .order_by(results.c.published_at.desc())
            .limit(1)
        ).first()
    return AssetRef(url=row[0], location=row[1]) if row else None


def portal_value(conn: Connection, portal: PortalBase, user_id: str) -> str | None:
    """The portal's depth column for one user, locked for the rest of the transaction on PostgreSQL."""
    u = portal.users
    stmt = select(u.depth).where(u.id == u.portal_id(user_id))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return conn.execute(stmt).scalar_one_or_none()


@retry_on_disconnect
def compare_and_set(portal: PortalBase, target: ToPublish, asset: AssetRef, approval: bool) -> Published:
    """The portal column, the publication log and the result's ``published_*`` change in one transaction, or none
    does; the transaction first re-checks (under a row lock) that the result is still current and approved."""
    u = portal.users
    user_id = target.user_id
    with writer(portal.engine).begin() as conn:
        blocked = _blocked(conn, user_id, target.result_id, approval, lock=True)
        if blocked is not None:
            return blocked
        before = portal_value(conn, portal, user_id)  # locked: the undo restores exactly what this replaced
        written = conn.execute(
            update(u.table)
            .where(
                u.id == u.portal_id(user_id),
                u.avatar == target.avatar_url,
                or_(u.depth.is_(None), u.depth != asset.url),
            )
            .values({u.depth.name: asset.url})
        ).rowcount
        if written:
            outcome = Published.PUBLISHED
            conn.execute(
                publications.insert().values(
                    user_id=str(user_id),
                    result_id=target.result_id,
                    previous=before,
                    written=asset.url,
                    published_at=utcnow(),
                )
            )
        else:
            avatar_now, depth_now = conn.execute(select(u.avatar, u.depth).where(u.id == u.portal_id(user_id))).one()
            # Nothing written: either the photo changed since the check (stale, column untouched) or an earlier
            # run already wrote this very URL (a rerun after a crash must not write twice).
            same_photo = avatar_now == target.avatar_url
            outcome = Published.ALREADY if same_photo and depth_now == asset.url else Published.STALE
        if outcome != Published.STALE:
            conn.execute(
                update(results)
                .where(results.c.id == target.result_id)
                .values(published_url=asset.url, published_location=asset.location, published_at=utcnow())
            )
    return outcome


@retry_on_disconnect
def mark_previous_deleted(portal: PortalBase, user_id: str, url: str) -> None:
    """The publisher deleted the asset behind ``url`` (superseded): an undo can no longer restore it."""
    with writer(portal.engine).begin() as conn:
        conn.execute(
            update(publications)
            .where(publications.c.user_id == str(user_id), publications.c.previous == url)
            .values(previous_deleted=True)
        )


# --- the undo ----------------------------------------------------------------------------------------------------


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


def _latest(user_id: str) -> Any:
    p = publications
    return select(p).where(p.c.user_id == str(user_id), p.c.undone_at.is_(None)).order_by(p.c.id.desc()).limit(1)


@retry_on_disconnect
def undo_publication(portal: PortalBase, user_id: str, *, by: str) -> UnpublishOutcome:
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
                decision=Decision.UNPUBLISHED,
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
