"""Publishing: store the approved PNG, then compare-and-set the portal's depth column in one transaction.

Order matters for crash safety: (1) the asset is put under a deterministic key (a rerun overwrites the same
asset, never makes a second), (2) the portal column and the result's ``published_*`` fields change together, and
only if the user's avatar is still the one the map was made from. A rerun after a crash between (1) and (2)
repeats (1) idempotently and then does (2); a rerun after (2) finds the column already set and writes nothing.

"Still publishable" is checked twice, before the upload (no asset for a map that was rejected or replaced) and
again inside the compare-and-set transaction, with the user-state row locked: the result must still be the user's
current one and still approved (unless review is off), so a decision or a regeneration that lands during a long
upload wins, and an older result can never overwrite a newer one's URL.

The reads and the compare-and-set transaction are :mod:`depthstudio.portal.publications`'s; this module keeps
their order and the store calls between them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from depthstudio.config import StorageConfig
from depthstudio.errors import StorageError
from depthstudio.jobs.failpoints import failpoint
from depthstudio.jobs.photo_check import photo_unchanged
from depthstudio.jobs.progress import HELD_OUTCOME, STALE_OUTCOME
from depthstudio.jobs.progress import PUBLISHED as PUBLISHED_OUTCOME
from depthstudio.jobs.publish_plates import delete_superseded_layers, publish_layers
from depthstudio.portal.photo_checks import mark_photo_changed
from depthstudio.portal.publications import (
    AssetRef,
    Published,
    ToPublish,
    compare_and_set,
    mark_previous_deleted,
    previous_asset,
    publish_blocked,
    read_to_publish,
)
from depthstudio.portal.repository import Portal
from depthstudio.storage.store import DepthStore, StoredAsset, StoreKey

log = logging.getLogger(__name__)

PUBLISHED, ALREADY, STALE, HELD = Published.PUBLISHED, Published.ALREADY, Published.STALE, Published.HELD


@dataclass(frozen=True)
class PublishOutcome:
    user_id: str
    result_id: int
    outcome: Published
    url: str | None = None
    why: str | None = None  # for HELD: the QA flags that hold it

    @property
    def item_outcome(self) -> str:
        """The outcome as a bulk run counts it (``jobs.progress``)."""
        return {STALE: STALE_OUTCOME, HELD: HELD_OUTCOME}.get(self.outcome, PUBLISHED_OUTCOME)


def publish_result(
    portal: Portal,
    store: DepthStore,
    result_id: int,
    *,
    delete_superseded: bool = StorageConfig.delete_superseded,
    require_approval: bool | None = None,
) -> PublishOutcome:
    """``require_approval`` defaults to the portal's ``review_required``; a job queued to publish at once passes
    False (nobody reviews its maps), though the result must still be the user's current one."""
    approval = portal.config.studio.review_required if require_approval is None else require_approval
    r = read_to_publish(portal, result_id)
    user_id = r.user_id
    if r.shows is None or r.shows.avatar != r.avatar_url:
        return PublishOutcome(user_id, result_id, STALE)  # checked first: no upload for a photo that changed
    if r.published_url and r.shows.depth == r.published_url:
        return PublishOutcome(user_id, result_id, ALREADY, r.published_url)
    blocked = publish_blocked(portal, user_id, result_id, approval)
    if blocked == HELD:
        # Nobody reviews this publish, so a map our QA calls bad (empty, flat, inverted) must not reach the portal
        # silently: it stays a generated, QA-flagged result in the studio's queue until an editor approves it.
        return _held(r)
    if blocked is not None:
        log.info("user %s: result %s is no longer current and approved; not uploaded", user_id, result_id)
        return PublishOutcome(user_id, result_id, STALE)

    if not photo_unchanged(portal.config, r.avatar_url, r.avatar_sha256):
        mark_photo_changed(portal, result_id)  # stale from now on (listed, counted, queued), not "approved" forever
        return PublishOutcome(user_id, result_id, STALE)  # overwritten in place: same URL, another photo

    asset = store.put(StoreKey(user_id, r.avatar_sha256), r.png8)
    failpoint("after_store_put")
    if not store.owns(asset.url):
        raise StorageError(f"the store returned a URL it does not own ({asset.url}); refusing to publish it")
    publish_layers(portal, store, StoreKey(user_id, r.avatar_sha256), result_id)  # before the portal sees the map

    previous = previous_asset(portal, user_id, result_id)
    outcome = compare_and_set(portal, r, AssetRef(asset.url, asset.location), approval)
    failpoint("after_portal_write")
    if outcome == HELD:  # an editor's approval of a flagged map was taken back during the upload
        return _held(r)
    if outcome == STALE:
        log.info("user %s changed their photo before publishing; depth map not written", user_id)
        return PublishOutcome(user_id, result_id, STALE)
    # Only an asset this store made may be deleted (after a switch of store the old one is not ours to remove).
    if delete_superseded and previous is not None and previous.location != asset.location and store.owns(previous.url):
        superseded = StoredAsset(url=previous.url, location=previous.location, bytes=0)
        try:
            store.delete(superseded)
            delete_superseded_layers(store, superseded)
            mark_previous_deleted(portal, user_id, previous.url)
        except StorageError as err:  # the new map is live; a leftover old asset is only clutter
            log.warning("could not delete the superseded depth map of %s: %s", user_id, err)
    return PublishOutcome(user_id, result_id, outcome, asset.url)


def _held(r: ToPublish) -> PublishOutcome:
    why = f"QA flagged ({', '.join(r.qa_flags) or 'risk'}): held for review"
    log.info("user %s: result %s %s", r.user_id, r.result_id, why)
    return PublishOutcome(r.user_id, r.result_id, HELD, why=why)
