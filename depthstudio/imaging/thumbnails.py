"""Small square avatar thumbnails, kept on disk in the user cache directory and keyed by the photo's identity.

A list of 100k users scrolls through thousands of avatars; decoding and cropping each full photo again at every
start (or every scroll back) is what made thumbnails slow. The first sight of a photo writes its thumbnail
(a few KB) to the cache; later ones read that file instead of fetching and decoding the photo.

Identity: a local file is its path with its modification time and size, so a replaced file gets a new
thumbnail; a URL is the URL itself, because portals and CDNs (Cloudinary's versioned URLs) give a new upload a
new URL, and asking the server whether the photo changed would cost the request the cache exists to save.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from PIL import Image

from depthstudio.imaging.crop import crop_square, square_crop_box
from depthstudio.imaging.fetch import local_path
from depthstudio.imaging.load import load_avatar
from depthstudio.imaging.types import FetchPolicy

log = logging.getLogger(__name__)

CACHE_ENV = "DEPTHSTUDIO_CACHE_DIR"
FORMAT_VERSION = "1"  # bump when the thumbnail's framing or resampling changes: old files are then ignored


def cache_dir() -> Path:
    """Where depthstudio keeps what it can rebuild (platformdirs' user cache dir, or ``$DEPTHSTUDIO_CACHE_DIR``)."""
    return Path(os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("depthstudio"))


def photo_identity(source: str, policy: FetchPolicy) -> str | None:
    """A string that changes whenever the photo behind ``source`` may have; None: do not cache it.

    A local file that cannot be read, or local files turned off by the policy, is not cached, so the normal
    loader reports the problem exactly as before.
    """
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        return f"url\0{source}"
    if not policy.allow_local_paths or parts.scheme not in ("", "file"):
        return None
    path = local_path(parts.path) if parts.scheme == "file" else Path(source)
    try:
        info = path.stat()
    except OSError:
        return None
    return f"file\0{path.resolve()}\0{info.st_mtime_ns}\0{info.st_size}"


class ThumbnailStore:
    """Thumbnails under ``root``; thread-safe (each file is written whole, then renamed into place)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or cache_dir()) / "thumbnails"

    def path_for(self, identity: str, size: int) -> Path:
        digest = hashlib.sha256(f"{FORMAT_VERSION}\0{size}\0{identity}".encode()).hexdigest()
        return self.root / str(size) / digest[:2] / f"{digest}.png"

    def thumbnail(self, source: str, size: int, policy: FetchPolicy) -> Image.Image:
        """The avatar's square crop at ``size`` px: from the cache if it holds this photo, else made and kept."""
        identity = photo_identity(source, policy)
        path = self.path_for(identity, size) if identity is not None else None
        if path is not None:
            cached = _read(path, size)
            if cached is not None:
                return cached
        original = load_avatar(source, policy).original
        thumb = crop_square(original, square_crop_box(*original.size), size)
        if path is not None:
            _write(path, thumb)
        return thumb


def _read(path: Path, size: int) -> Image.Image | None:
    try:
        with Image.open(path) as image:
            image.load()
            if image.size == (size, size):
                return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        pass  # absent or damaged: made again from the photo
    return None


def _write(path: Path, thumb: Image.Image) -> None:
    """Keep ``thumb``; a cache that cannot be written (read-only, full) only costs speed, never the thumbnail."""
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        thumb.save(tmp, "PNG", compress_level=1)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("thumbnail cache not written (%s): %s", path.parent, exc)
        tmp.unlink(missing_ok=True)
