"""Thumbnails come from a downscaled copy cached on disk, keyed by the photo's identity (no second decode)."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from depthstudio.imaging.errors import LocalPathRefusedError
from depthstudio.imaging.thumbnails import ThumbnailStore, cache_dir, photo_identity
from depthstudio.imaging.types import FetchPolicy
from depthstudio.portal.demo import placeholder_avatar
from tests.servers.http_files import FileServer

POLICY = FetchPolicy(allow_private=True, timeout_s=5.0)


def _png(i: int, size: int = 400) -> bytes:
    buffer = io.BytesIO()
    placeholder_avatar(i, size=size).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_url_photo_is_fetched_and_decoded_once_then_read_from_the_cache(tmp_path):
    with FileServer().serving() as server:
        url = server.add("/a.png", body=_png(1), content_type="image/png")
        first = ThumbnailStore(tmp_path).thumbnail(url, 48, POLICY)
        again = ThumbnailStore(tmp_path).thumbnail(url, 48, POLICY)  # a new store: as after a restart
        assert server.requests_for("/a.png") == 1
    assert first.size == again.size == (48, 48)
    assert first.tobytes() == again.tobytes()
    files = list((tmp_path / "thumbnails" / "48").rglob("*.png"))
    assert len(files) == 1 and files[0].stat().st_size < 20_000, "the cached copy is the small one"


LOCAL = FetchPolicy(allow_local_paths=True)


def _local_photo(tmp_path, seed: int):
    """A photo file and an empty cache beside it."""
    path = tmp_path / "avatar.png"
    path.write_bytes(_png(seed))
    return path, ThumbnailStore(tmp_path / "cache")


def test_a_replaced_local_file_gets_a_new_thumbnail(tmp_path):
    path, store = _local_photo(tmp_path, 1)
    policy = LOCAL
    before = store.thumbnail(str(path), 32, policy)
    path.write_bytes(_png(7))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    after = store.thumbnail(path.as_uri(), 32, policy)
    assert before.tobytes() != after.tobytes()


def test_a_damaged_cache_file_is_made_again(tmp_path):
    path, store = _local_photo(tmp_path, 2)
    policy = LOCAL
    good = store.thumbnail(str(path), 32, policy)
    cached = store.path_for(photo_identity(str(path), policy) or "", 32)
    cached.write_bytes(b"not a png")
    assert store.thumbnail(str(path), 32, policy).tobytes() == good.tobytes()
    assert Image.open(cached).size == (32, 32)


def test_local_files_refused_by_the_policy_are_neither_read_nor_cached(tmp_path):
    path, store = _local_photo(tmp_path, 3)
    store.thumbnail(str(path), 32, LOCAL)
    with pytest.raises(LocalPathRefusedError):
        store.thumbnail(str(path), 32, FetchPolicy(allow_local_paths=False))


def test_the_cache_lives_in_the_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTHSTUDIO_CACHE_DIR", str(tmp_path / "c"))
    assert ThumbnailStore().root == tmp_path / "c" / "thumbnails"
    monkeypatch.delenv("DEPTHSTUDIO_CACHE_DIR")
    assert "depthstudio" in str(cache_dir()).lower()
