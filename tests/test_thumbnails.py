"""Thumbnails come from a downscaled copy cached on disk, keyed by the photo's identity (no second decode)."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from depthstudio.imaging.image_errors import LocalPathRefusedError
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


# --- framing: the thumbnail shows the avatar through [web] display_crop, as the website does ----------------------


def _banded_portrait(path) -> str:
    """150x300: red, green and blue bands of 100 rows, top to bottom, so the rows kept say where the cut was."""
    img = Image.new("RGB", (150, 300))
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        img.paste(colour, (0, 100 * i, 150, 100 * (i + 1)))
    img.save(path)
    return str(path)


def _rows_of(thumb: Image.Image, channel: int) -> int:
    """Opaque rows of the centre column where ``channel`` dominates."""
    px = thumb.load()
    x = thumb.width // 2
    return sum(1 for y in range(thumb.height) if px[x, y][3] == 255 and px[x, y][channel] > 200)


def test_with_no_display_crop_the_whole_photo_is_letterboxed_in_its_square(tmp_path):
    photo = _banded_portrait(tmp_path / "tall.png")
    thumb = ThumbnailStore(tmp_path / "cache").thumbnail(photo, 60, LOCAL, "none")
    assert thumb.size == (60, 60) and thumb.mode == "RGBA"
    alpha = thumb.getchannel("A")
    assert alpha.crop((0, 0, 15, 60)).getextrema() == (0, 0), "transparent bars left and right"
    assert alpha.crop((60 - 15, 0, 60, 60)).getextrema() == (0, 0)
    assert alpha.crop((16, 0, 44, 60)).getextrema() == (255, 255), "the photo over the whole height"
    # all three bands, each a third of the height: nothing of the photo is cut away
    assert [_rows_of(thumb, c) for c in range(3)] == [pytest.approx(20, abs=1)] * 3


def test_with_the_square_display_crop_the_thumbnail_is_the_centred_square(tmp_path):
    """Cloudinary's c_fill with centre gravity: rows 75..225 of the 300, so as much red as blue (25 rows each)."""
    photo = _banded_portrait(tmp_path / "tall.png")
    thumb = ThumbnailStore(tmp_path / "cache").thumbnail(photo, 60, LOCAL, "square")
    assert thumb.getchannel("A").getextrema() == (255, 255), "the square fills the thumbnail"
    red, green, blue = (_rows_of(thumb, c) for c in range(3))
    assert red == pytest.approx(10, abs=1) and blue == pytest.approx(10, abs=1) and green == pytest.approx(40, abs=1)


def test_each_display_crop_has_its_own_cached_thumbnail(tmp_path, monkeypatch):
    from depthstudio.imaging import thumbnails

    photo = _banded_portrait(tmp_path / "tall.png")
    store = ThumbnailStore(tmp_path / "cache")
    decoded: list[str] = []
    load = thumbnails.load_avatar
    monkeypatch.setattr(thumbnails, "load_avatar", lambda *a: decoded.append(a[0]) or load(*a))
    framed = {mode: store.thumbnail(photo, 32, LOCAL, mode) for mode in ("none", "square")}
    assert framed["none"].tobytes() != framed["square"].tobytes()
    assert len(decoded) == 2, "a thumbnail framed one way is not served for the other"
    for mode, thumb in framed.items():
        assert store.thumbnail(photo, 32, LOCAL, mode).tobytes() == thumb.tobytes()
    assert len(decoded) == 2, "then each comes from the cache"
    assert len(list((tmp_path / "cache" / "thumbnails" / "32").rglob("*.png"))) == 2


def test_an_unknown_display_crop_is_a_clear_error_before_any_fetch(tmp_path):
    from depthstudio.imaging.image_errors import ImagingError

    with pytest.raises(ImagingError, match="unknown display crop 'circle'"):
        ThumbnailStore(tmp_path / "cache").thumbnail(str(tmp_path / "absent.png"), 32, LOCAL, "circle")
