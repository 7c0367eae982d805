"""The publisher's layered-mode step: a result's stored plate and matte go up beside its depth map.

Called by :func:`depthstudio.jobs.publish.publish_result` after the map's upload and before the portal column
is set, so a viewer that finds the map also finds its layers. Same deterministic ids as the map plus
``-plate``/``-matte`` (:mod:`depthstudio.storage.plate_assets`): a rerun overwrites, never duplicates. A result stored
before layers were (no plate/matte in the database) publishes the map alone; the viewer then draws one layer.
"""

from __future__ import annotations

import logging

from depthstudio.errors import StorageError
from depthstudio.portal.repository import Portal
from depthstudio.render.result_plates import stored_layers
from depthstudio.storage.plate_assets import delete_layers_beside, put_layers
from depthstudio.storage.store import DepthStore, StoredAsset, StoreKey

log = logging.getLogger(__name__)


def publish_layers(portal: Portal, store: DepthStore, key: StoreKey, result_id: int) -> dict[str, StoredAsset]:
    """Upload the result's plate and matte under the map's key; {} when the result has none stored."""
    layers = stored_layers(portal, result_id)
    if layers is None:
        log.info("result %s has no stored plate/matte; publishing the depth map alone", result_id)
        return {}
    return put_layers(store, key, layers)


def delete_superseded_layers(store: DepthStore, previous: StoredAsset) -> None:
    """Remove the layers beside a superseded map; a leftover layer is only clutter, never an error."""
    try:
        delete_layers_beside(store, previous)
    except StorageError as err:
        log.warning("could not delete the layers beside the superseded map %s: %s", previous.location, err)
