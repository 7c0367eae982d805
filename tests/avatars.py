"""Avatars built straight from PIL images (centre square crop), for depth tests that need no fetching."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image, ImageOps

from depthstudio.imaging.types import Avatar, CropBox


def avatar_from_image(image: Image.Image, source: str = "memory", crop_size: int = 512) -> Avatar:
    original = ImageOps.exif_transpose(image).convert("RGB")
    w, h = original.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    crop = CropBox(left, top, left + side, top + side)
    square = original.crop((crop.left, crop.top, crop.right, crop.bottom)).resize(
        (crop_size, crop_size), Image.Resampling.LANCZOS
    )
    return Avatar(
        source=source,
        sha256=hashlib.sha256(original.tobytes()).hexdigest(),
        original=original,
        image=square,
        crop=crop,
    )


def avatar_from_file(path: Path, crop_size: int = 512) -> Avatar:
    with Image.open(path) as img:
        return avatar_from_image(img, str(path), crop_size)
