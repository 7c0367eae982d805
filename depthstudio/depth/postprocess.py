"""Raw model output -> the stored depth map: normalised, covering the avatar's whole frame, 8-bit PNG + 16-bit
kept.

Optional portrait clean-ups (``PostprocessOptions``, all off by default) are stored with each result so
that a map can be reproduced and the options compared in review.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import cv2
import numpy as np
from PIL import Image

from depthstudio.config import coerce_setting
from depthstudio.depth.backend import DepthPrediction
from depthstudio.errors import BackendError, ConfigError
from depthstudio.imaging.types import Avatar

# Random or degenerate outputs can span ~1e-7; below this the map is "empty" and normalising would amplify
# noise.
_MIN_RANGE = 1e-6
# float32 resolves ~6e-8 of a value's magnitude; a span below this fraction of it is rounding noise, not
# depth (e.g. an untrained network's output riding on a large constant bias).
_MIN_RELATIVE_RANGE = 1e-5


@dataclass(frozen=True)
class PostprocessOptions:
    """Portrait clean-ups applied after the map is brought into the avatar's crop.

    ``percentile``: clip this percentage at each end before normalising (a few stray pixels no longer
    squash the rest of the map into a narrow grey band). ``dilate_px``: grow the near (white) regions by N
    pixels, so hair and shoulder edges carry the foreground's depth and do not smear into the background
    when displaced. ``smooth_radius``/``smooth_eps``: guided filter with the photo as guide: smooths the
    map where the photo is flat and keeps its edges where the photo has them. ``invert``: for models whose
    output is depth (white = far).
    """

    percentile: float = 0.0
    dilate_px: int = 0
    smooth_radius: int = 0
    smooth_eps: float = 1e-3
    invert: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.percentile < 50.0:
            raise ConfigError(f"postprocess percentile={self.percentile} must be in [0, 50)")
        if self.dilate_px < 0 or self.smooth_radius < 0:
            raise ConfigError("postprocess dilate_px and smooth_radius must not be negative")
        if self.smooth_eps <= 0.0:
            raise ConfigError("postprocess smooth_eps must be positive")

    def to_dict(self) -> dict[str, Any]:
        # Flat fields: a shallow dict, not dataclasses.asdict's recursive deep copy (once per map in the runner).
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PostprocessOptions:
        """From the stored JSON or the ``[depth] postprocess`` table; strings (CLI, environment) are
        converted."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in (data or {}).items():
            if key not in fields:
                raise ConfigError(f"unknown postprocess option {key!r}; known: {', '.join(fields)}")
            values[key] = coerce_setting(fields[key].default, raw, f"postprocess option {key}")
        return cls(**values)

    @classmethod
    def parse(cls, pairs: list[str] | tuple[str, ...], base: dict[str, Any] | None = None) -> PostprocessOptions:
        """``["dilate_px=2", "invert=true"]`` (the CLI's ``--postprocess``) on top of ``base``."""
        data = dict(base or {})
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ConfigError(f"postprocess option {pair!r} must be written name=value")
            data[key.strip()] = value.strip()
        return cls.from_dict(data)


@dataclass
class DepthMap:
    """A finished map: ``depth`` float32 in [0, 1] (white = near) at the avatar crop's size.

    ``qa`` (see ``depthstudio.depth.qa``) and ``options`` are JSON-able dicts stored with the result.
    """

    depth: np.ndarray
    png8: bytes
    qa: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    levels8: np.ndarray | None = None  # what ``png8`` encodes, kept so the plate and matte need no decode of it

    @cached_property
    def png16(self) -> bytes:
        """Encoded on first use: only a 16-bit file output reads it, and it costs ~4x the 8-bit encode per map."""
        return encode_png(self.depth, 16)


def normalise(disparity: np.ndarray, percentile: float = 0.0) -> np.ndarray:
    """Min-max (or percentile-clipped) to [0, 1]; a constant, non-finite or noise-only map becomes all zeros
    instead of dividing by ~0 and blowing the noise up to full contrast."""
    d = np.asarray(disparity, dtype=np.float32)
    if d.ndim != 2:
        raise BackendError(f"the depth output has {d.ndim} dimensions, expected a 2-D map", kind="bad_output")
    finite = np.isfinite(d)
    if not finite.any():
        return np.zeros_like(d)
    d = np.where(finite, d, np.nanmin(d[finite]))
    full_lo, full_hi = float(d.min()), float(d.max())
    if full_hi - full_lo < max(_MIN_RANGE, _MIN_RELATIVE_RANGE * max(abs(full_lo), abs(full_hi))):
        return np.zeros_like(d)
    if percentile > 0.0:
        lo, hi = (float(v) for v in np.percentile(d, [percentile, 100.0 - percentile]))
        if hi - lo < _MIN_RANGE:  # most of the map is one value: fall back rather than divide by ~0
            lo, hi = full_lo, full_hi
    else:
        lo, hi = full_lo, full_hi
    return np.clip((d - lo) / (hi - lo), 0.0, 1.0)


def _resize(d: np.ndarray, width: int, height: int) -> np.ndarray:
    if d.shape == (height, width):
        return d
    return np.asarray(Image.fromarray(d, mode="F").resize((width, height), Image.Resampling.BICUBIC))


def fit_to_avatar(prediction: DepthPrediction, avatar: Avatar) -> np.ndarray:
    """Bring the map into the avatar's frame at ``avatar.image``'s size, whatever resolution the backend returned."""
    d = np.asarray(prediction.disparity, dtype=np.float32)
    out_w, out_h = avatar.image.size
    if prediction.frame == "original":
        ow, oh = avatar.original.size
        c = avatar.crop
        if (c.left, c.top, c.right, c.bottom) != (0, 0, ow, oh):
            d = _resize(d, ow, oh)[c.top : c.bottom, c.left : c.right]
    return _resize(d, out_w, out_h)


def levels(depth01: np.ndarray, bits: int = 8) -> np.ndarray:
    """The map as the integer levels its PNG stores (uint8 or uint16)."""
    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    top, kind = (255.0, np.uint8) if bits == 8 else (65535.0, np.uint16)
    return np.round(np.clip(depth01, 0.0, 1.0) * top).astype(kind)


def encode_png(depth01: np.ndarray, bits: int) -> bytes:
    """Grayscale PNG, 8-bit (for the web) or 16-bit (kept for later re-processing without banding)."""
    return encode_levels(levels(depth01, bits))


def encode_levels(pixels: np.ndarray) -> bytes:
    """A grey uint8/uint16 array as PNG, encoded by OpenCV: it leaves the GIL to the bulk runner's other threads
    (Pillow's encoder held it for ~0.4 ms per 8-bit map), at zlib level 6 as Pillow's default was."""
    ok, data = cv2.imencode(".png", np.ascontiguousarray(pixels), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("the depth map could not be encoded as PNG")
    return data.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """A stored depth PNG (8- or 16-bit grayscale) back to float32 in [0, 1]."""
    with Image.open(io.BytesIO(data)) as img:
        arr = np.asarray(img)
        if img.mode in ("I;16", "I;16B", "I"):
            return arr.astype(np.float32) / 65535.0
        if arr.ndim == 3:
            arr = arr[..., 0]
        return arr.astype(np.float32) / 255.0


def _box_sum(a: np.ndarray, r: int) -> np.ndarray:
    """Sum over the (2r+1)^2 window around each pixel, windows clipped at the border (zeros outside).

    OpenCV's running box sum: about nine times faster than a summed-area table in numpy at a 64² map, and it
    runs without the GIL, so the runner's threads overlap it.
    """
    k = 2 * r + 1
    return cv2.boxFilter(
        np.asarray(a, dtype=np.float64), cv2.CV_64F, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT
    )


def guided_filter(depth: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter (grey guide): locally ``depth ~ a * guide + b``; where the photo varies
    less than ``sqrt(eps)`` the map is averaged, where the photo has an edge the map keeps (or gains) it."""
    if radius <= 0:
        return depth
    p = depth.astype(np.float64)
    g = guide.astype(np.float64)
    n = _box_sum(np.ones_like(p), radius)
    mean_g = _box_sum(g, radius) / n
    mean_p = _box_sum(p, radius) / n
    cov_gp = _box_sum(g * p, radius) / n - mean_g * mean_p
    var_g = _box_sum(g * g, radius) / n - mean_g * mean_g
    a = cov_gp / (var_g + eps)
    b = mean_p - a * mean_g
    q = (_box_sum(a, radius) / n) * g + _box_sum(b, radius) / n
    return q.astype(np.float32)


def dilate(depth: np.ndarray, px: int) -> np.ndarray:
    """Grey-level dilation with a (2px+1) square: each pixel takes the nearest value within ``px``, so the
    foreground's silhouette grows by ``px`` over the background."""
    if px <= 0:
        return depth
    out = depth
    for axis in (0, 1):
        n = out.shape[axis]
        padded = np.pad(out, [(px, px) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        acc = out.copy()
        for k in range(2 * px + 1):
            acc = np.maximum(acc, np.take(padded, np.arange(k, k + n), axis=axis))
        out = acc
    return out


def _guide(avatar: Avatar, width: int, height: int) -> np.ndarray:
    gray = avatar.image.convert("L")
    if gray.size != (width, height):
        gray = gray.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.float32) / 255.0


def apply_options(fitted: np.ndarray, avatar: Avatar, options: PostprocessOptions) -> np.ndarray:
    """The map in the crop (any scale) -> [0, 1] with the chosen clean-ups, in an order where each makes
    sense: invert the raw values, normalise, grow the foreground, then smooth along the photo's edges."""
    d = -fitted if options.invert else fitted
    d = normalise(d, options.percentile)
    if not d.any():
        return d  # an empty map stays visibly empty for QA instead of picking up the photo's texture
    d = dilate(d, options.dilate_px)
    if options.smooth_radius:
        d = guided_filter(d, _guide(avatar, d.shape[1], d.shape[0]), options.smooth_radius, options.smooth_eps)
    return np.clip(d, 0.0, 1.0).astype(np.float32)


def make_depth_map(prediction: DepthPrediction, avatar: Avatar, options: PostprocessOptions | None = None) -> DepthMap:
    """The stored result: the map, both PNGs, its QA flags and the options that made it."""
    from depthstudio.depth.qa import assess

    opts = options or PostprocessOptions()
    depth = apply_options(fit_to_avatar(prediction, avatar), avatar, opts)
    report = assess(depth, avatar, prediction)
    levels8 = levels(depth, 8)
    return DepthMap(
        depth=depth,
        png8=encode_levels(levels8),
        levels8=levels8,
        qa=report.to_dict(),
        options=opts.to_dict(),
    )
