"""Small square avatar thumbnails, kept on disk in the user cache directory and keyed by the photo's identity.
Each shows the avatar as the website does: through the portal's ``[web] display_crop``.

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

from depthstudio.imaging.crop import crop_square, display_crop_box, fit_frame
from depthstudio.imaging.fetch import local_path
from depthstudio.imaging.load import load_avatar
from depthstudio.imaging.types import FetchPolicy

log = logging.getLogger(__name__)

CACHE_ENV = "DEPTHSTUDIO_CACHE_DIR"
# Bump when the thumbnail's framing, colour or resampling changes: old files are then ignored.
# 2: colour-managed (ICC profile to sRGB) and cut from the original (issue 23).
# 3: framed through [web] display_crop (the whole photo letterboxed on transparent bars, or the centred square).
FORMAT_VERSION = "3"


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

    def path_for(self, identity: str, size: int, display_crop: str = "none") -> Path:
        digest = hashlib.sha256(f"{FORMAT_VERSION}\0{size}\0{display_crop}\0{identity}".encode()).hexdigest()
        return self.root / str(size) / digest[:2] / f"{digest}.png"

    def thumbnail(self, source: str, size: int, policy: FetchPolicy, display_crop: str = "none") -> Image.Image:
        """The avatar as the website shows it, in a ``size`` px square (RGBA): from the cache if it holds this photo
        framed this way, else made and kept. See :func:`framed_thumbnail`."""
        display_crop_box(1, 1, display_crop)  # an unknown mode is refused before any fetch
        identity = photo_identity(source, policy)
        path = self.path_for(identity, size, display_crop) if identity is not None else None
        if path is not None:
            cached = _read(path, size)
            if cached is not None:
                return cached
        thumb = framed_thumbnail(load_avatar(source, policy).original, size, display_crop)
        if path is not None:
            _write(path, thumb)
        return thumb


def framed_thumbnail(original: Image.Image, size: int, display_crop: str) -> Image.Image:
    """``original`` through the portal's display crop, in a ``size`` square (RGBA).

    ``square``: the centred square (Cloudinary's ``c_fill``), filling the thumbnail. ``none``: the website shows
    the whole photo, so the thumbnail does too, fitted and centred between transparent bars (a square cut would
    hide what the editor must judge).
    """
    box = display_crop_box(*original.size, display_crop)
    if box.right - box.left == box.bottom - box.top:  # a square photo, or the square crop
        return crop_square(original, box, size).convert("RGBA")
    fitted = fit_frame(original, size).convert("RGBA")
    square = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    square.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
    return square


def _read(path: Path, size: int) -> Image.Image | None:
    try:
        with Image.open(path) as image:
            image.load()
            if image.size == (size, size):
                return image.convert("RGBA")
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
