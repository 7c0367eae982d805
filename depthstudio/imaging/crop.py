"""The frame a depth map covers in its photo: the whole displayed photo (EXIF applied), at its aspect ratio.

The portal crops the photo and the map with one URL transformation (the seed: the same Cloudinary square crop on
both), which keeps them aligned only if the map covers what the photo covers. Results made before issue 23 cover
the square crop below (``square_crop_box``); they are still drawn correctly, through that crop (``map_frame``).
"""

from __future__ import annotations

from PIL import Image

from depthstudio.imaging.image_errors import ImagingError
from depthstudio.imaging.types import CropBox

# Fraction of a portrait's extra height left above the square: faces sit in the upper part of a portrait.
PORTRAIT_TOP_BIAS = 0.10


def square_crop_box(width: int, height: int) -> CropBox:
    """The largest square in a ``width`` x ``height`` image, as the portal shows avatars.

    Rule: the side is the shorter dimension; the square is centred horizontally; in a portrait (taller than
    wide) its top sits at 10 % of the extra height rather than at 50 %, because faces are near the top of
    portrait photos and centring would cut off the top of the head to keep the chest. Landscape and square
    images need no vertical choice.
    """
    side = min(width, height)
    left = (width - side) // 2
    top = round((height - side) * PORTRAIT_TOP_BIAS)
    return CropBox(left=left, top=top, right=left + side, bottom=top + side)


def crop_square(original: Image.Image, box: CropBox, size: int) -> Image.Image:
    """``box`` of ``original`` resampled to ``size`` x ``size`` with Lanczos (sharp, no aliasing).

    Cropping before resampling keeps pixels outside the box out of the edge rows (a resize with ``box=`` lets
    the filter reach past it), so the crop matches what the depth map is cropped to.
    """
    square = original.crop((box.left, box.top, box.right, box.bottom))
    # a large downscale first shrinks by an integer factor (fast; at a gap of 3 no visible loss)
    return square.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)


def full_frame(width: int, height: int) -> CropBox:
    return CropBox(left=0, top=0, right=width, bottom=height)


def fit_frame(original: Image.Image, size: int) -> Image.Image:
    """The whole photo resampled so that its longer side is ``size`` (aspect kept; Lanczos, like the crop was)."""
    w, h = original.size
    scale = size / max(w, h)
    target = (max(1, round(w * scale)), max(1, round(h * scale)))
    if target == original.size:
        return original
    return original.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def map_frame(width: int, height: int, map_width: int, map_height: int) -> CropBox:
    """Where a ``map_width`` x ``map_height`` depth map lies in a ``width`` x ``height`` photo.

    A map at the photo's aspect (within the rounding of a resize) covers the whole frame; a square map of a
    non-square photo is a result made before maps kept the photo's frame, and covers ``square_crop_box``.
    """
    if abs(map_width * height - map_height * width) <= (width + height) / 2:
        return full_frame(width, height)
    if map_width == map_height:
        return square_crop_box(width, height)
    raise ImagingError(
        f"the depth map ({map_width}x{map_height}) is framed neither like the photo ({width}x{height}) nor like "
        "its square crop; generate it again",
        kind="frame_mismatch",
    )


def photo_for_map(original: Image.Image, map_size: tuple[int, int], size: tuple[int, int] | None = None) -> Image.Image:
    """The photo cut to the frame its depth map covers, resampled to ``size`` (default: the map's size)."""
    box = map_frame(*original.size, *map_size)
    framed = (
        original if box == full_frame(*original.size) else original.crop((box.left, box.top, box.right, box.bottom))
    )
    target = size or map_size
    if framed.size == target:
        return framed
    return framed.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def display_crop_box(width: int, height: int, mode: str) -> CropBox:
    """The part of a ``width`` x ``height`` photo the portal shows (``[web] display_crop``).

    ``square``: the largest centred square, as Cloudinary's ``c_fill`` to a square with its default centre gravity
    (the seed's transformation on both the avatar and its map). ``none``: the whole photo.
    """
    if mode == "none":
        return full_frame(width, height)
    if mode == "square":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return CropBox(left=left, top=top, right=left + side, bottom=top + side)
    raise ImagingError(f"unknown display crop {mode!r}; use none or square", kind="display_crop")


def through_display_crop(image: Image.Image, frame: tuple[int, int], mode: str) -> Image.Image:
    """``image`` (the photo, its map or a layer: any resolution of one ``frame``) cut like the portal cuts it.

    The box is taken in the frame's coordinates and scaled to ``image``, so the photo and a map of another
    resolution are cut at the same place, as one URL transformation on both cuts them.
    """
    box = display_crop_box(*frame, mode)
    if box == full_frame(*frame):
        return image
    sx, sy = image.width / frame[0], image.height / frame[1]
    return image.crop((round(box.left * sx), round(box.top * sy), round(box.right * sx), round(box.bottom * sy)))
