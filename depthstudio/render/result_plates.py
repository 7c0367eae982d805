"""A result's layered-mode images (background plate, matte) as stored with it, beside its depth PNGs.

They are made once, when the map is made (the job runner) or touched up (the studio), from the photo and the
8-bit map the shader samples, so the preview, the exporter, ``export-web`` and the publisher all show the same
plate and matte, and none of them pays the inpainting at load. A result stored before this existed has none:
its readers derive them at load (:func:`layered_textures`), which gives the same images.
"""

from __future__ import annotations

import io
import logging
from typing import Protocol

import cv2
import numpy as np
from PIL import Image

from depthstudio.errors import ImagingError
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import stored_layer_pngs
from depthstudio.render.plate_matte import derive_layers
from depthstudio.render.reference import Textures, prepare_textures

PLATE, MATTE = "plate", "matte"

log = logging.getLogger(__name__)


class _WithLayers(Protocol):
    png8: bytes
    levels8: np.ndarray | None
    plate_png: bytes | None
    matte_png: bytes | None


PNG_LEVEL = 3  # zlib level of the stored layers: ~2x faster than Pillow's default 6, a few % larger


def _png(array: np.ndarray) -> bytes:
    """An RGB or grey uint8 array as PNG, encoded by OpenCV, which leaves the GIL to the runner's other threads."""
    pixels = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    ok, data = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
    if not ok:
        raise ImagingError("the layer image could not be encoded as PNG", kind="bad_layers")
    return data.tobytes()


def depth_levels(png8: bytes) -> np.ndarray:
    """The stored 8-bit map as the levels the shader samples (uint8, white = near)."""
    try:
        return np.asarray(Image.open(io.BytesIO(png8)).convert("L"))
    except (OSError, ValueError) as exc:
        raise ImagingError(f"the stored depth map is not a readable PNG: {exc}", kind="bad_depth") from exc


def layer_pngs(photo: Image.Image | np.ndarray, depth: np.ndarray) -> dict[str, bytes]:
    """``{"plate": RGB PNG at the photo's size, "matte": grey PNG at the depth's size}`` for one result."""
    textures = prepare_textures(photo, depth)
    return encode_layer_pngs(*derive_layers(textures.photo, textures.depth))


def encode_layer_pngs(plate: np.ndarray, matte: np.ndarray) -> dict[str, bytes]:
    """The stored form: the plate as RGB (its alpha is always opaque), the matte as grey."""
    return {PLATE: _png(np.ascontiguousarray(plate[..., :3])), MATTE: _png(matte)}


def attach_layers(new: _WithLayers, photo: Image.Image | np.ndarray) -> None:
    """Fill a new result's plate and matte from its photo and 8-bit map (the job runner's hook).

    A map the layers cannot be made from (e.g. an all-black one QA flags anyway) is kept without them: its
    readers then derive at load or draw one layer; the depth map itself is never lost over its layers.
    """
    try:
        pngs = layer_pngs(photo, new.levels8 if new.levels8 is not None else depth_levels(new.png8))
    except (ImagingError, ValueError, cv2.error) as exc:
        log.warning("no plate/matte for this map (%s); they are derived when shown", exc)
        return
    new.plate_png, new.matte_png = pngs[PLATE], pngs[MATTE]


def decode_layers(pngs: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(plate RGBA uint8, matte uint8) from the stored PNGs; a damaged one is a clear error."""
    try:
        plate = np.asarray(Image.open(io.BytesIO(pngs[PLATE])).convert("RGBA"))
        matte = np.asarray(Image.open(io.BytesIO(pngs[MATTE])).convert("L"))
    except (OSError, ValueError, KeyError) as exc:
        raise ImagingError(f"the result's stored plate/matte cannot be read: {exc}", kind="bad_layers") from exc
    return plate, matte


def layered_textures(
    photo: Image.Image | np.ndarray, depth: np.ndarray | Image.Image, stored: dict[str, bytes] | None
) -> Textures:
    """The textures with the result's stored plate and matte, or (an older result: ``stored`` None) derived."""
    textures = prepare_textures(photo, depth)
    if stored:
        return textures.with_layers(*decode_layers(stored))
    plate, matte = derive_layers(textures.photo, textures.depth)
    return textures.with_layers(plate, matte)


def stored_layers(portal: Portal, result_id: int) -> dict[str, bytes] | None:
    """The plate and matte stored with a result; None for a result made before layers were stored."""
    pngs = stored_layer_pngs(portal, result_id)
    return {PLATE: pngs.plate_png, MATTE: pngs.matte_png} if pngs is not None else None
