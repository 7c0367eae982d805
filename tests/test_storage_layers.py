"""The layered mode's plate and matte published next to the depth map: deterministic ids, idempotent, cleaned up."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from depthstudio.depth.postprocess import encode_png
from depthstudio.errors import StorageError
from depthstudio.storage.cloudinary import CloudinaryStore
from depthstudio.storage.plate_assets import delete_layers_beside, layer_url, put_layers
from depthstudio.storage.store import StoreKey
from tests.servers.cloudinary_server import CloudinaryServer, running_cloudinary_server

HASH = "b" * 64


def _png(seed: int) -> bytes:
    return encode_png(np.random.default_rng(seed).random((40, 48)), 8)


@pytest.fixture
def server() -> Iterator[CloudinaryServer]:
    with running_cloudinary_server() as srv:
        yield srv


def _store(server: CloudinaryServer) -> CloudinaryStore:
    return CloudinaryStore(server.cloudinary_url, upload_prefix=server.upload_prefix)


def test_layers_upload_next_to_the_depth_map_and_are_found_from_its_url(server: CloudinaryServer) -> None:
    store = _store(server)
    key = StoreKey("42", HASH)
    depth = store.put(key, _png(0))
    layers = put_layers(store, key, {"plate": _png(1), "matte": _png(2)})
    assert set(server.assets) == {f"depthstudio/42-{HASH[:16]}{s}" for s in ("", "-plate", "-matte")}
    for name, asset in layers.items():
        assert asset.url == layer_url(depth.url, name).replace(f"/v{depth.version}/", f"/v{asset.version}/")
        assert server.assets[asset.location].data == _png({"plate": 1, "matte": 2}[name])


def test_publishing_the_layers_again_creates_nothing_new(server: CloudinaryServer) -> None:
    store = _store(server)
    key = StoreKey("7", HASH)
    first = put_layers(store, key, {"plate": _png(1), "matte": _png(2)})
    again = put_layers(store, key, {"plate": _png(1), "matte": _png(2)})
    assert [a.location for a in first.values()] == [a.location for a in again.values()]
    assert len(server.assets) == 2


def test_the_layers_are_deleted_with_the_map(server: CloudinaryServer) -> None:
    store = _store(server)
    key = StoreKey("9", HASH)
    depth = store.put(key, _png(0))
    put_layers(store, key, {"plate": _png(1), "matte": _png(2)})
    delete_layers_beside(store, depth)
    store.delete(depth)
    assert server.assets == {}
    delete_layers_beside(store, depth)  # already gone: still fine


def test_a_missing_layer_is_refused_before_anything_is_uploaded(server: CloudinaryServer) -> None:
    with pytest.raises(StorageError, match="matte"):
        put_layers(_store(server), StoreKey("1", HASH), {"plate": _png(1)})
    assert server.assets == {}


def test_the_local_store_keeps_the_layers_beside_the_map_where_the_viewer_looks(tmp_path) -> None:
    from depthstudio.storage.folder_store import LocalDirectoryStore

    store = LocalDirectoryStore(tmp_path)
    key = StoreKey("u1", HASH)
    depth = store.put(key, _png(0))
    layers = put_layers(store, key, {"plate": _png(1), "matte": _png(2)})
    assert {name: a.url for name, a in layers.items()} == {n: layer_url(depth.url, n) for n in ("plate", "matte")}
    delete_layers_beside(store, depth)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"u1-{HASH[:16]}.png"]


def test_the_layers_beside_a_superseded_map_are_found_from_the_map_alone(server: CloudinaryServer, tmp_path) -> None:
    from depthstudio.storage.folder_store import LocalDirectoryStore

    for store in (_store(server), LocalDirectoryStore(tmp_path)):
        key = StoreKey("old", HASH)
        depth = store.put(key, _png(0))
        put_layers(store, key, {"plate": _png(1), "matte": _png(2)})
        delete_layers_beside(store, depth)
        store.delete(depth)
    assert server.assets == {} and list(tmp_path.iterdir()) == []
