"""The layered mode's extra images (background plate, matte) next to a published depth map, in any store.

Each layer's asset id is the depth map's id plus ``-plate``/``-matte``, so uploading again overwrites the same
asset (idempotent, like the depth map), a viewer finds the layers from the depth URL the portal stores
(:func:`layer_url`), and deleting the map's layers needs nothing but its key.
"""

from __future__ import annotations

from dataclasses import dataclass

from depthstudio.errors import StorageError
from depthstudio.storage.store import DepthStore, StoredAsset, StoreKey

LAYERS = ("plate", "matte")


@dataclass(frozen=True)
class LayerKey(StoreKey):
    """The key of one layer of the depth map published under the same user and photo."""

    layer: str = "plate"

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise StorageError(f"unknown layer {self.layer!r}; layers are {', '.join(LAYERS)}", kind="bad_layer")

    @property
    def public_id(self) -> str:
        return f"{super().public_id}-{self.layer}"


def put_layers(store: DepthStore, key: StoreKey, pngs: dict[str, bytes]) -> dict[str, StoredAsset]:
    """Upload each layer PNG (``{"plate": ..., "matte": ...}``) under its deterministic id."""
    missing = [name for name in LAYERS if name not in pngs]
    if missing:
        raise StorageError(f"a layered result needs its {' and '.join(missing)} image(s)", kind="bad_layer")
    return {name: store.put(LayerKey(key.user_id, key.avatar_sha256, name), pngs[name]) for name in LAYERS}


def delete_layers_beside(store: DepthStore, depth: StoredAsset) -> None:
    """Remove the layers published next to the depth map ``depth`` (when the map itself is deleted or superseded).

    A layer's handle is the map's with ``-<layer>`` before ``.png`` (a file path) or appended (a public_id).
    """
    for name in LAYERS:
        stem, dot, ext = depth.location.rpartition(".")
        location = f"{stem}-{name}.png" if dot and ext.lower() == "png" else f"{depth.location}-{name}"
        store.delete(StoredAsset(url=layer_url(depth.url, name), location=location, bytes=0))


def layer_url(depth_url: str, layer: str) -> str:
    """Where a layer of the depth map at ``depth_url`` lives: the same address with ``-<layer>`` before .png."""
    if layer not in LAYERS:
        raise StorageError(f"unknown layer {layer!r}; layers are {', '.join(LAYERS)}", kind="bad_layer")
    stem, dot, ext = depth_url.rpartition(".")
    if not dot or ext.lower() != "png":
        raise StorageError("a depth-map URL must end in .png to locate its layers", kind="bad_layer")
    return f"{stem}-{layer}.png"
