"""Touch-up of a stored result (Qt-free): depth-map clean-ups and matte edits, saved as a new result.

Non-destructive: :func:`apply_touchup` reads the source result's map and never writes it; :func:`save_touchup`
records a *new* result (the user's current one, waiting for review like any generated map) whose ``postprocess``
JSON holds the options and the source result's id, so the edit can be reviewed, rejected, or redone.

Order of the depth edits: invert, dilate (grow the near side so hair and shoulder edges carry the subject's
depth), smooth (guided by the photo), then contrast about mid-grey and gamma. The matte edits reshape the soft
matte of the touched map (threshold/feather ramp) before it is kept inside the depth silhouette; to move the
silhouette itself, dilate the depth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from PIL import Image

from depthstudio.depth.postprocess import decode_png, dilate, encode_png, guided_filter
from depthstudio.depth.qa import QAReport, check_empty, check_flat, check_inverted
from depthstudio.errors import ConfigError, RenderError
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import NewResult, record_result
from depthstudio.render.plate_matte import background_plate, inside_silhouette, looks_like_background, soft_matte
from depthstudio.render.reference import prepare_textures
from depthstudio.render.result_plates import MATTE, PLATE, encode_layer_pngs

TOUCHUP_KEY = "touchup"  # in the new result's postprocess JSON, beside "from_result"


@dataclass(frozen=True)
class TouchUp:
    """One touch-up's options; the defaults change nothing (``is_identity``)."""

    invert: bool = False
    dilate_px: int = 0
    smooth_radius: int = 0
    smooth_eps: float = 1e-3
    contrast: float = 1.0
    gamma: float = 1.0
    matte_threshold: float = 0.5
    matte_feather: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.dilate_px <= 64 or not 0 <= self.smooth_radius <= 64:
            raise ConfigError("touch-up dilate and smooth radius must be within 0..64 px", kind="bad_touchup")
        if not 0.1 <= self.contrast <= 10.0 or not 0.1 <= self.gamma <= 10.0:
            raise ConfigError("touch-up contrast and gamma must be within 0.1..10", kind="bad_touchup")
        if not 0.0 <= self.matte_threshold <= 1.0 or not 0.0 < self.matte_feather <= 1.0:
            raise ConfigError("touch-up matte threshold must be in 0..1 and feather in (0, 1]", kind="bad_touchup")
        if self.smooth_eps <= 0.0:
            raise ConfigError("touch-up smooth_eps must be positive", kind="bad_touchup")

    @property
    def is_identity(self) -> bool:
        return self == TouchUp()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TouchUp:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown touch-up option(s) {', '.join(unknown)}", kind="bad_touchup")
        return cls(**data)


@dataclass(frozen=True)
class Touched:
    """A touch-up's output: the map in [0, 1], its 8-bit levels, and the layers made from it."""

    depth: np.ndarray
    levels: np.ndarray
    plate: np.ndarray
    matte: np.ndarray


def touch_depth(depth: np.ndarray, photo: Image.Image, options: TouchUp) -> np.ndarray:
    """The edited map (float32 in [0, 1]) from ``depth`` in [0, 1]; the photo guides the smoothing."""
    d = np.asarray(depth, dtype=np.float32)
    if options.invert:
        d = 1.0 - d
    d = dilate(d, options.dilate_px)
    if options.smooth_radius:
        grey = photo.convert("L").resize((d.shape[1], d.shape[0]), Image.Resampling.BILINEAR)
        guide = np.asarray(grey, dtype=np.float32) / 255.0
        d = guided_filter(d, guide, options.smooth_radius, options.smooth_eps)
    if options.contrast != 1.0:
        d = (d - 0.5) * options.contrast + 0.5
    d = np.clip(d, 0.0, 1.0)
    if options.gamma != 1.0:
        d = d ** np.float32(options.gamma)
    return d.astype(np.float32)


def touch_matte(soft: np.ndarray, options: TouchUp) -> np.ndarray:
    """The soft matte (uint8) through the touch-up's threshold/feather ramp (identity at 0.5/0.5)."""
    lo = options.matte_threshold - options.matte_feather
    ramp = np.clip((soft.astype(np.float32) / 255.0 - lo) / (2.0 * options.matte_feather), 0.0, 1.0)
    return np.round(ramp * 255.0).astype(np.uint8)


def apply_touchup(photo: Image.Image, depth: np.ndarray, options: TouchUp) -> Touched:
    """What the studio previews live: the edited map and the plate and matte that go with it."""
    touched = touch_depth(depth, photo, options)
    textures = prepare_textures(photo, touched)
    soft = touch_matte(soft_matte(textures.photo, textures.depth), options)
    matte = inside_silhouette(soft, textures.depth)
    plate = background_plate(textures.photo, np.maximum(soft, matte))
    matte[looks_like_background(textures.photo, textures.depth)] = 0  # as derive_layers: the photo's evidence
    return Touched(touched, textures.depth, plate, matte)


def source_depth(portal: Portal, result_id: int) -> np.ndarray:
    """The stored (8-bit) map of a result in [0, 1]."""
    data = portal.result_png(result_id)
    if data is None:
        raise RenderError(f"result {result_id} has no stored depth map to touch up", kind="no_depth")
    return decode_png(data)


def save_touchup(portal: Portal, result_id: int, photo: Image.Image, options: TouchUp) -> int:
    """Record the touched map as a new result (current, unreviewed) with the options; returns its id."""
    source = portal.result(result_id)
    if source is None:
        raise RenderError(f"no result {result_id} to touch up", kind="no_result")
    if options.is_identity:
        raise RenderError("the touch-up changes nothing; there is no new result to save", kind="bad_touchup")
    out = apply_touchup(photo, source_depth(portal, result_id), options)
    qa = QAReport(
        {"empty": check_empty(out.depth), "flat": check_flat(out.depth), "inverted": check_inverted(out.depth)}
    )
    layers = encode_layer_pngs(out.plate, out.matte)
    new = NewResult(
        avatar_url=source.avatar_url,
        avatar_sha256=source.avatar_sha256,
        backend=source.backend,
        model=source.model,
        width=out.depth.shape[1],
        height=out.depth.shape[0],
        png8=encode_png(out.depth, 8),
        qa=qa.to_dict(),
        qa_risk=float(qa.risk),
        postprocess={**(source.postprocess or {}), TOUCHUP_KEY: options.to_dict(), "from_result": result_id},
        plate_png=layers[PLATE],
        matte_png=layers[MATTE],
    )
    return record_result(portal, source.user_id, new)
