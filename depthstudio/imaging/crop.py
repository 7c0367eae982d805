"""The square crop the depth backends see, and where it lies in the original."""

from __future__ import annotations

from PIL import Image

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
