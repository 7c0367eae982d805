"""Decoding avatar photos for thumbnails and the preview, in one place so the imaging module can replace it.

The portal stores a URL per user; the demo portal's are ``file://`` URLs. Remote URLs go through the core's
guarded fetcher once it is merged; until then only local files are read here (the studio never downloads an
arbitrary URL without the SSRF guard).
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image, ImageOps

from depthstudio.errors import ImagingError


def _local_path(source: str) -> Path | None:
    parsed = urlparse(source)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and source[1:3] in (":\\", ":/")):  # plain or drive path
        return Path(source)
    return None


def read_bytes(source: str) -> bytes:
    path = _local_path(source)
    if path is None:
        raise ImagingError(
            f"the preview reads only local photos in this build, not {urlparse(source).scheme}:// URLs",
            kind="unsupported_url",
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImagingError(f"cannot read the photo {path}: {exc.strerror}", kind="unreadable") from None


def open_image(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:
        raise ImagingError(f"the photo is not a readable image ({type(exc).__name__})", kind="bad_image") from None
    return ImageOps.exif_transpose(img).convert("RGB")


# Where the square sits in a portrait photo: 10 % of the extra height above it, the imaging module's rule
# (faces are near the top of portraits). The depth map is made in that crop, so the preview must use it too.
PORTRAIT_TOP_BIAS = 0.10


def framed_photo(source: str, width: int, height: int) -> Image.Image:
    """The photo in the depth map's frame (``width`` x ``height``): the avatar crop for square maps."""
    img = open_image(read_bytes(source))
    return ImageOps.fit(img, (width, height), Image.Resampling.LANCZOS, centering=(0.5, PORTRAIT_TOP_BIAS))


def thumbnail(source: str, size: int) -> Image.Image:
    """A small square crop; ``draft`` lets JPEG decode at a fraction of the size, which keeps the grid fast."""
    data = read_bytes(source)
    try:
        img = Image.open(io.BytesIO(data))
        img.draft("RGB", (size * 2, size * 2))
        img = ImageOps.exif_transpose(img).convert("RGB")
    except Exception as exc:
        raise ImagingError(f"the photo is not a readable image ({type(exc).__name__})", kind="bad_image") from None
    return ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR, centering=(0.5, PORTRAIT_TOP_BIAS))
