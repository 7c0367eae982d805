"""Avatar photos for thumbnails and the preview, through the core's guarded loader (bounded, SSRF-checked).

The preview must frame the photo exactly like its depth map: the whole photo for maps at its aspect (every map
since issue 23), the old square crop for a square map of a non-square photo (``imaging.crop.map_frame``).
"""

from __future__ import annotations

from PIL import Image

from depthstudio.imaging import FetchPolicy, load_avatar
from depthstudio.imaging.crop import full_frame, map_frame, photo_for_map
from depthstudio.imaging.thumbnails import ThumbnailStore


def framed_photo(source: str, width: int, height: int, policy: FetchPolicy) -> Image.Image:
    """The photo in the depth map's frame (``width`` x ``height``)."""
    avatar = load_avatar(source, policy)
    return photo_for_map(avatar.original, (width, height))


def thumbnail(source: str, size: int, policy: FetchPolicy, display_crop: str = "none") -> Image.Image:
    """The avatar framed as the website shows it, at thumbnail size, from the on-disk cache when it holds it."""
    return ThumbnailStore().thumbnail(source, size, policy, display_crop)


NATIVE_LIMIT = 2048  # the 1:1 view's largest side: a texture bigger than this is no avatar any more


def native_photo(source: str, width: int, height: int, policy: FetchPolicy) -> Image.Image:
    """The photo in the same frame as ``framed_photo`` but at its own pixel size (the 1:1 view)."""
    avatar = load_avatar(source, policy)
    box = map_frame(*avatar.original.size, width, height)
    photo = avatar.original
    if box != full_frame(*photo.size):
        photo = photo.crop((box.left, box.top, box.right, box.bottom))
    if max(photo.size) > NATIVE_LIMIT:
        photo = photo.copy()
        photo.thumbnail((NATIVE_LIMIT, NATIVE_LIMIT), Image.Resampling.LANCZOS)
    return photo
