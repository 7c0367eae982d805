"""Publishing: store the approved PNG, then compare-and-set the portal's depth column in one transaction.

Order matters for crash safety: (1) the asset is put under a deterministic key (a rerun overwrites the same
asset, never makes a second), (2) the portal column and the result's ``published_*`` fields change together, and
only if the user's avatar is still the one the map was made from. A rerun after a crash between (1) and (2)
repeats (1) idempotently and then does (2); a rerun after (2) finds the column already set and writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update

from depthstudio.errors import StorageError
from depthstudio.jobs.failpoints import failpoint
from depthstudio.portal.engine import retry_on_disconnect
from depthstudio.portal.repository import Portal, utcnow
from depthstudio.portal.tables import result_blobs, results
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
    portal: Portal, store: DepthStore, result_id: int, *, delete_superseded: bool = False
) -> PublishOutcome:
    r, png, current = _read(portal, result_id)
    user_id = r["user_id"]
    if current is None or current[0] != r["avatar_url"]:
        return PublishOutcome(user_id, result_id, STALE)  # checked first: no upload for a photo that changed
    if r["published_url"] and current[1] == r["published_url"]:
        return PublishOutcome(user_id, result_id, ALREADY, r["published_url"])

    asset = store.put(StoreKey(user_id, r["avatar_sha256"]), png)
    failpoint("after_store_put")
    if not store.owns(asset.url):
        raise StorageError(f"the store returned a URL it does not own ({asset.url}); refusing to publish it")

    previous = _previous_asset(portal, user_id, result_id)
    outcome = _compare_and_set(portal, r, asset)
    failpoint("after_portal_write")
    if outcome == STALE:
        log.info("user %s changed their photo before publishing; depth map not written", user_id)
        return PublishOutcome(user_id, result_id, STALE)
    # Only an asset this store made may be deleted (after a switch of store the old one is not ours to remove).
    if delete_superseded and previous is not None and previous.location != asset.location and store.owns(previous.url):
        try:
            store.delete(previous)
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


@retry_on_disconnect
def _compare_and_set(portal: Portal, r: Any, asset: StoredAsset) -> str:
    """The portal column and the result's ``published_*`` change in one transaction, or neither does."""
    u = portal.users
    user_id = r["user_id"]
    with portal.engine.begin() as conn:
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
