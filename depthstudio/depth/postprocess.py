"""Raw model output -> the stored depth map: normalised, in the avatar's square crop, 8-bit PNG + 16-bit kept."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from depthstudio.depth.backend import DepthPrediction
from depthstudio.errors import BackendError
from depthstudio.imaging.types import Avatar

# Random or degenerate outputs can span ~1e-7; below this the map is "empty" and normalising would amplify noise.
_MIN_RANGE = 1e-6


@dataclass
class DepthMap:
    """A finished map: ``depth`` float32 in [0, 1] (white = near) at the avatar crop's size."""

    depth: np.ndarray
    png8: bytes
    png16: bytes


def normalise(disparity: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; a constant (or non-finite) map becomes all zeros instead of dividing by ~0."""
    d = np.asarray(disparity, dtype=np.float32)
    if d.ndim != 2:
        raise BackendError(f"the depth output has {d.ndim} dimensions, expected a 2-D map", kind="bad_output")
    finite = np.isfinite(d)
    if not finite.any():
        return np.zeros_like(d)
    d = np.where(finite, d, np.nanmin(d[finite]))
    lo, hi = float(d.min()), float(d.max())
    if hi - lo < _MIN_RANGE:
        return np.zeros_like(d)
    return (d - lo) / (hi - lo)


def _resize(d: np.ndarray, width: int, height: int) -> np.ndarray:
    if d.shape == (height, width):
        return d
    return np.asarray(Image.fromarray(d, mode="F").resize((width, height), Image.Resampling.BICUBIC))


def fit_to_avatar(prediction: DepthPrediction, avatar: Avatar) -> np.ndarray:
    """Bring the map into the avatar's square crop, whatever frame and resolution the backend returned."""
    d = np.asarray(prediction.disparity, dtype=np.float32)
    out = avatar.image.size[0]
    if prediction.frame == "original":
        ow, oh = avatar.original.size
        d = _resize(d, ow, oh)
        c = avatar.crop
        d = d[c.top : c.bottom, c.left : c.right]
    return _resize(d, out, out)


def encode_png(depth01: np.ndarray, bits: int) -> bytes:
    """Grayscale PNG, 8-bit (for the web) or 16-bit (kept for later re-processing without banding)."""
    d = np.clip(depth01, 0.0, 1.0)
    if bits == 8:
        img = Image.fromarray(np.round(d * 255.0).astype(np.uint8), mode="L")
    elif bits == 16:
        img = Image.fromarray(np.round(d * 65535.0).astype(np.uint16), mode="I;16")
    else:
        raise ValueError("bits must be 8 or 16")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """A stored depth PNG (8- or 16-bit grayscale) back to float32 in [0, 1]."""
    with Image.open(io.BytesIO(data)) as img:
        arr = np.asarray(img)
        if img.mode in ("I;16", "I;16B", "I"):
            return arr.astype(np.float32) / 65535.0
        if arr.ndim == 3:
            arr = arr[..., 0]
        return arr.astype(np.float32) / 255.0


def make_depth_map(prediction: DepthPrediction, avatar: Avatar) -> DepthMap:
    depth = normalise(fit_to_avatar(prediction, avatar))
    return DepthMap(depth=depth, png8=encode_png(depth, 8), png16=encode_png(depth, 16))
