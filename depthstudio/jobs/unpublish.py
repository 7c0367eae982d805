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

from depthstudio.portal.publications import UnpublishError, UnpublishOutcome, undo_publication
from depthstudio.portal.repository import Portal

__all__ = ["UnpublishError", "UnpublishOutcome", "unpublish"]


def unpublish(portal: Portal, user_id: str, *, by: str) -> UnpublishOutcome:
    """Undo the user's latest publish by compare-and-set, in one transaction; raises ``UnpublishError`` (and
    changes nothing) when there is none, when its map cannot be restored, or when the portal changed since."""
    return undo_publication(portal, user_id, by=by)
