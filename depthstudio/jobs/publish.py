"""Publishing: store the approved PNG, then compare-and-set the portal's depth column in one transaction.

Order matters for crash safety: (1) the asset is put under a deterministic key (a rerun overwrites the same
asset, never makes a second), (2) the portal column and the result's ``published_*`` fields change together, and
only if the user's avatar is still the one the map was made from. A rerun after a crash between (1) and (2)
repeats (1) idempotently and then does (2); a rerun after (2) finds the column already set and writes nothing.

"Still publishable" is checked twice, before the upload (no asset for a map that was rejected or replaced) and
again inside the compare-and-set transaction, with the user-state row locked: the result must still be the user's
current one and still approved (unless review is off), so a decision or a regeneration that lands during a long
upload wins, and an older result can never overwrite a newer one's URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Connection

from depthstudio.errors import StorageError
from depthstudio.jobs.failpoints import failpoint
from depthstudio.jobs.photo_check import mark_changed, photo_unchanged
from depthstudio.jobs.publish_layers import delete_superseded_layers, publish_layers
from depthstudio.jobs.unpublish import mark_previous_deleted, portal_value, record_publication
from depthstudio.portal.engine import retry_on_disconnect, writer
from depthstudio.portal.repository import Portal, utcnow
from depthstudio.portal.tables import result_blobs, results, reviews, user_state
from depthstudio.storage.base import DepthStore, StoredAsset, StoreKey

log = logging.getLogger(__name__)

PUBLISHED, ALREADY, STALE = "published", "already", "stale"


@dataclass(frozen=True)
class PublishOutcome:
    user_id: str
    result_id: int
    outcome: str  # published | already | stale
    url: str | None = None


def publish_result(
    portal: Portal,
    store: DepthStore,
    result_id: int,
    *,
    delete_superseded: bool = False,
    require_approval: bool | None = None,
) -> PublishOutcome:
    """``require_approval`` defaults to the portal's ``review_required``; a job queued to publish at once passes
    False (nobody reviews its maps), though the result must still be the user's current one."""
    approval = portal.config.studio.review_required if require_approval is None else require_approval
    r, png, current = _read(portal, result_id)
    user_id = r["user_id"]
    if current is None or current[0] != r["avatar_url"]:
        return PublishOutcome(user_id, result_id, STALE)  # checked first: no upload for a photo that changed
    if r["published_url"] and current[1] == r["published_url"]:
        return PublishOutcome(user_id, result_id, ALREADY, r["published_url"])
    if not _still_publishable(portal, user_id, result_id, approval):
        log.info("user %s: result %s is no longer current and approved; not uploaded", user_id, result_id)
        return PublishOutcome(user_id, result_id, STALE)

    if not photo_unchanged(portal.config, r["avatar_url"], r["avatar_sha256"]):
        mark_changed(portal, result_id)  # stale from now on (listed, counted, queued), not "approved" forever
        return PublishOutcome(user_id, result_id, STALE)  # overwritten in place: same URL, another photo

    asset = store.put(StoreKey(user_id, r["avatar_sha256"]), png)
    failpoint("after_store_put")
    if not store.owns(asset.url):
        raise StorageError(f"the store returned a URL it does not own ({asset.url}); refusing to publish it")
    publish_layers(portal, store, StoreKey(user_id, r["avatar_sha256"]), result_id)  # before the portal sees the map

    previous = _previous_asset(portal, user_id, result_id)
    outcome = _compare_and_set(portal, r, asset, approval)
    failpoint("after_portal_write")
    if outcome == STALE:
        log.info("user %s changed their photo before publishing; depth map not written", user_id)
        return PublishOutcome(user_id, result_id, STALE)
    # Only an asset this store made may be deleted (after a switch of store the old one is not ours to remove).
    if delete_superseded and previous is not None and previous.location != asset.location and store.owns(previous.url):
        try:
            store.delete(previous)
            delete_superseded_layers(store, previous)
            mark_previous_deleted(portal, user_id, previous.url)
        except StorageError as err:  # the new map is live; a leftover old asset is only clutter
            log.warning("could not delete the superseded depth map of %s: %s", user_id, err)
    return PublishOutcome(user_id, result_id, outcome, asset.url)


@retry_on_disconnect
def _read(portal: Portal, result_id: int) -> tuple[Any, bytes, Any]:
    u = portal.users
    with portal.engine.connect() as conn:
        r = conn.execute(select(results).where(results.c.id == result_id)).mappings().one()
        png = conn.execute(select(result_blobs.c.png8).where(result_blobs.c.result_id == result_id)).scalar_one()
        current = conn.execute(select(u.avatar, u.depth).where(u.id == u.portal_id(r["user_id"]))).first()
    return r, png, current


def _publishable(conn: Connection, user_id: str, result_id: int, approval: bool, *, lock: bool) -> bool:
    """The result is the user's current one and (if review is on) the current decision on it is "approved".

    ``lock`` takes the user-state row FOR UPDATE (PostgreSQL), so a decision or a regeneration committed by
    another editor waits for this transaction instead of slipping in between the check and the write.
    """
    s, v = user_state, reviews
    stmt = select(s.c.result_id, v.c.decision).select_from(
        s.outerjoin(v, and_(v.c.id == s.c.review_id, v.c.result_id == s.c.result_id))
    )
    stmt = stmt.where(s.c.user_id == str(user_id))
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=s)
    row = conn.execute(stmt).first()
    if row is None or row.result_id != result_id:
        return False
    return not approval or row.decision == "approved"


@retry_on_disconnect
def _still_publishable(portal: Portal, user_id: str, result_id: int, approval: bool) -> bool:
    with portal.engine.connect() as conn:
        return _publishable(conn, user_id, result_id, approval, lock=False)


@retry_on_disconnect
def _compare_and_set(portal: Portal, r: Any, asset: StoredAsset, approval: bool) -> str:
    """The portal column and the result's ``published_*`` change in one transaction, or neither does; the
    transaction first re-checks (under a row lock) that the result is still current and approved."""
    u = portal.users
    user_id = r["user_id"]
    with writer(portal.engine).begin() as conn:
        if not _publishable(conn, user_id, r["id"], approval, lock=True):
            return STALE
        before = portal_value(conn, portal, user_id)  # locked: the undo restores exactly what this replaced
        written = conn.execute(
            update(u.table)
            .where(
                u.id == u.portal_id(user_id),
                u.avatar == r["avatar_url"],
                or_(u.depth.is_(None), u.depth != asset.url),
            )
            .values({u.depth.name: asset.url})
        ).rowcount
        if written:
            outcome = PUBLISHED
            record_publication(conn, user_id, r["id"], before, asset.url)
        else:
            avatar_now, depth_now = conn.execute(select(u.avatar, u.depth).where(u.id == u.portal_id(user_id))).one()
            # Nothing written: either the photo changed since the check (stale, column untouched) or an earlier
            # run already wrote this very URL (a rerun after a crash must not write twice).
            same_photo = avatar_now == r["avatar_url"]
            outcome = ALREADY if same_photo and depth_now == asset.url else STALE
        if outcome != STALE:
            conn.execute(
                update(results)
                .where(results.c.id == r["id"])
                .values(published_url=asset.url, published_location=asset.location, published_at=utcnow())
            )
    return outcome


@retry_on_disconnect
def _previous_asset(portal: Portal, user_id: str, result_id: int) -> StoredAsset | None:
    with portal.engine.connect() as conn:
        row = conn.execute(
            select(results.c.published_url, results.c.published_location)
            .where(results.c.user_id == user_id, results.c.id != result_id, results.c.published_url.is_not(None))
            .order_by(results.c.published_at.desc())
            .limit(1)
        ).first()
    return StoredAsset(url=row[0], location=row[1], bytes=0) if row else None
