"""numpy twin of ``shaders/parallax.frag``: the oracle for the GL tests and the renderer where no GL exists.

Every step mirrors the GLSL in float32: the aspect fit through ``resolution.zw``, the y flip, mirrored repeat,
GL_LINEAR sampling of CLAMP_TO_EDGE textures with the texel-centre convention, and the displacement. Both
renderers sample the same 8-bit textures (what the web gets from the PNGs), made by :func:`prepare_textures`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from depthstudio.errors import ImagingError, RenderError
from depthstudio.render.params import ShaderParams

MAX_OCCLUSION_STEPS = 32  # same caps as the GLSL constants
WALL_JUMP = np.float32(0.15)
LAYERED_STEPS = 32  # the layered mode's occlusion search when occlusion_steps is 0
LAYERED_REFINE = 8  # bisection steps of the layered mode's hit (same constant in the GLSL)


@dataclass(frozen=True)
class Textures:
    """The textures as uploaded: ``photo`` uint8 (H, W, 4), ``depth`` uint8 (h, w); row 0 is the top.

    ``plate`` (RGBA like the photo) and ``matte`` (uint8, 255 = subject) exist for layered results only.
    """

    photo: np.ndarray
    depth: np.ndarray
    plate: np.ndarray | None = None
    matte: np.ndarray | None = None

    def with_layers(self, plate: np.ndarray, matte: np.ndarray) -> Textures:
        return Textures(self.photo, self.depth, np.ascontiguousarray(plate), np.ascontiguousarray(matte))

    @property
    def photo_size(self) -> tuple[int, int]:
        return self.photo.shape[1], self.photo.shape[0]


def prepare_textures(photo: Image.Image | np.ndarray, depth: np.ndarray | Image.Image) -> Textures:
    """Photo (PIL or uint8 array) and depth (float in [0, 1] or uint8, white = near) as 8-bit textures."""
    if isinstance(photo, Image.Image):
        rgba = np.asarray(photo.convert("RGBA"))
    else:
        arr = np.asarray(photo)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ImagingError(
                f"the photo must be an 8-bit RGB(A) image, got an array {arr.dtype} {arr.shape}",
                kind="bad_photo",
            )
        rgba = arr if arr.shape[2] == 4 else np.dstack([arr, np.full(arr.shape[:2], 255, np.uint8)])
    if isinstance(depth, Image.Image):
        depth = np.asarray(depth.convert("L"))
    d = np.asarray(depth)
    if d.ndim != 2 or d.size == 0:
        raise ImagingError(f"the depth map must be a 2-D grayscale image, got shape {d.shape}", kind="bad_depth")
    if d.dtype != np.uint8:
        d = np.asarray(d, dtype=np.float32)
        if not np.isfinite(d).all():
            raise ImagingError("the depth map contains NaN or infinite values", kind="bad_depth")
        d = np.round(np.clip(d, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Textures(photo=np.ascontiguousarray(rgba), depth=np.ascontiguousarray(d))


def aspect_fit(out_w: int, out_h: int, img_w: int, img_h: int) -> tuple[float, float]:
    """``resolution.zw`` as the web component computes it: cover the output, cropping the longer side."""
    image_aspect = img_h / img_w
    if out_h / out_w < image_aspect:
        return 1.0, (out_h / out_w) / image_aspect
    return (out_w / out_h) * image_aspect, 1.0


@dataclass(frozen=True)
class WebCanvas:
    """The canvas react-depth-map 1.0.9 makes for a box ``css_width`` CSS pixels wide, at a devicePixelRatio.

    From its published source (``lib/ImageDepthMap.js``, function ``M``): with ``N = naturalHeight / naturalWidth``
    and ``e = offsetWidth``, ``resolution = (e, e * N, t, o)`` keeps the **unrounded** height, while the canvas is
    ``(e * dpr, e * N * dpr)`` assigned to ``canvas.width/height``, which truncates (WebIDL ``unsigned long``).
    Where ``e * N`` is not a whole number the last row is cut, not stretched: rounding instead (or refitting the
    aspect to the rounded canvas) moved every edge pixel by up to 28/255 (issue 23).
    """

    width: int  # device pixels
    height: int
    resolution: tuple[float, float, float, float]  # u_resolution: CSS width, unrounded CSS height, aspect fit
    device_pixel_ratio: float

    @property
    def pixel_ratio(self) -> float:
        """``u_pixelRatio``: the component passes ``1 / devicePixelRatio``."""
        return 1.0 / self.device_pixel_ratio


def web_canvas(css_width: int, photo_width: int, photo_height: int, device_pixel_ratio: float = 1.0) -> WebCanvas:
    """:class:`WebCanvas` computed in the component's order of double operations."""
    n = photo_height / photo_width
    e = float(css_width)
    r = e * n
    t = 1.0 if r / e < n else e / r * n
    o = r / e / n if r / e < n else 1.0
    return WebCanvas(int(e * device_pixel_ratio), int(r * device_pixel_ratio), (e, r, t, o), device_pixel_ratio)


def mirrored(v: np.ndarray) -> np.ndarray:
    """GLSL ``mix(m, 2 - m, step(1, m))`` with ``m = mod(v, 2)`` (GLSL mod floors like numpy's)."""
    m = np.mod(v, np.float32(2.0))
    return np.where(m >= 1.0, np.float32(2.0) - m, m)


def sample_linear(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """GL_LINEAR with CLAMP_TO_EDGE: texel centres at (i + 0.5) / size, edge texels repeated outward."""
    h, w = tex.shape[:2]
    x = u * np.float32(w) - np.float32(0.5)
    y = v * np.float32(h) - np.float32(0.5)
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = x - x0
    fy = y - y0
    ix0 = np.clip(x0.astype(np.int64), 0, w - 1)
    iy0 = np.clip(y0.astype(np.int64), 0, h - 1)
    ix1 = np.clip(x0.astype(np.int64) + 1, 0, w - 1)
    iy1 = np.clip(y0.astype(np.int64) + 1, 0, h - 1)
    if tex.ndim == 3:
        fx = fx[..., None]
        fy = fy[..., None]
    top = tex[iy0, ix0] * (1 - fx) + tex[iy0, ix1] * fx
    bottom = tex[iy1, ix0] * (1 - fx) + tex[iy1, ix1] * fx
    return top * (1 - fy) + bottom * fy


def relative_depth(d: np.ndarray | float, params: ShaderParams) -> np.ndarray:
    """GLSL ``relativeDepth``: depth minus the plane, the part behind the plane scaled by counter-motion."""
    s = np.asarray(d, dtype=np.float32) - np.float32(params.plane)
    return np.where(s < 0, s * np.float32(params.counter_motion), s)


def _search_steps(params: ShaderParams) -> int:
    """GLSL ``searchSteps``: the occlusion search length (the layered mode searches even at 0)."""
    if params.layered and params.occlusion_steps == 0:
        return LAYERED_STEPS
    return min(params.occlusion_steps, MAX_OCCLUSION_STEPS)


def _occluded_lookup(
    vu: np.ndarray, vv: np.ndarray, depth: np.ndarray, params: ShaderParams, k: tuple[np.float32, np.float32]
) -> tuple[np.ndarray, np.ndarray]:
    """``occludedLookup`` of the GLSL for all pixels at once: a pixel stops at its first accepted hit."""
    steps = _search_steps(params)
    out_u, out_v = vu.copy(), vv.copy()
    pending = np.ones(vu.shape, dtype=bool)
    prev_layer = np.float32(1.0)
    prev_gap = np.zeros(vu.shape, dtype=np.float32)
    prev_depth = np.zeros(vu.shape, dtype=np.float32)
    farthest = np.full(vu.shape, 2.0, dtype=np.float32)
    far_u, far_v = vu.copy(), vv.copy()
    for i in range(steps + 1):
        layer = np.float32(1.0) - np.float32(i) / np.float32(steps)
        s = relative_depth(layer, params)
        cu, cv = vu + s * k[0], vv + s * k[1]
        d = _lookup(depth, cu, cv)
        gap = d - layer
        if i == 0:
            hit = pending & (gap >= 0)
        else:
            hit = pending & (gap >= 0) & (prev_gap < 0) & (d - prev_depth <= WALL_JUMP)
            denom = np.where(hit, prev_gap - gap, np.float32(-1.0))
            sh = relative_depth(prev_layer + (layer - prev_layer) * (prev_gap / denom), params)
            cu = np.where(hit, vu + sh * k[0], cu)
            cv = np.where(hit, vv + sh * k[1], cv)
        out_u = np.where(hit, cu, out_u)
        out_v = np.where(hit, cv, out_v)
        pending &= ~hit
        nearer = pending & (d < farthest)
        farthest = np.where(nearer, d, farthest)
        far_u = np.where(nearer, vu + s * k[0], far_u)
        far_v = np.where(nearer, vv + s * k[1], far_v)
        prev_gap, prev_depth, prev_layer = gap, d, layer
        if not pending.any():
            break
    return np.where(pending, far_u, out_u), np.where(pending, far_v, out_v)


def _layered_lookup(
    vu: np.ndarray, vv: np.ndarray, depth: np.ndarray, params: ShaderParams, k: tuple[np.float32, np.float32]
) -> tuple[np.ndarray, np.ndarray]:
    """GLSL ``layeredLookup``: the ray's first crossing of the depth surface, refined by bisection.

    No silhouette-side rule here: the matte decides what is subject, so a ray that meets the edge's ramp lands
    where the matte is already low and shows the plate. The hit is then exactly the inverse of each photo
    pixel's own displacement, so the subject's shown edge and its depth silhouette move together.
    """
    steps = _search_steps(params)
    hi = np.ones(vu.shape, dtype=np.float32)
    lo = np.zeros(vu.shape, dtype=np.float32)
    pending = np.ones(vu.shape, dtype=bool)
    prev_layer = np.float32(1.0)

    def depth_at(layer: np.ndarray | np.float32) -> np.ndarray:
        s = relative_depth(layer, params)
        return sample_linear(depth, mirrored(vu + s * k[0]), mirrored(vv + s * k[1]))

    for i in range(steps + 1):
        layer = np.float32(1.0) - np.float32(i) / np.float32(steps)
        hit = pending & (depth_at(layer) >= layer)
        # A ray that starts inside the surface (i == 0) has nothing to refine: hi == lo keeps it there.
        hi = np.where(hit, layer if i == 0 else prev_layer, hi)
        lo = np.where(hit, layer, lo)
        pending &= ~hit
        prev_layer = layer
        if not pending.any():
            break
    for _ in range(LAYERED_REFINE):
        mid = np.float32(0.5) * (hi + lo)
        below = depth_at(mid) >= mid
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    s = relative_depth(lo, params)
    return vu + s * k[0], vv + s * k[1]


def _base_uv(
    textures: Textures, width: int, height: int, pixel_ratio: float, canvas: WebCanvas | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``vUv`` of every output pixel: the aspect fit and the y flip (``u_resolution`` from ``canvas`` if given)."""
    if canvas is not None:
        res_w, res_h, a1, a2 = canvas.resolution
        pixel_ratio = canvas.pixel_ratio
    else:
        res_w, res_h = width, height
        a1, a2 = aspect_fit(width, height, *textures.photo_size)
    frag_x = np.arange(width, dtype=np.float32) + np.float32(0.5)
    frag_y = np.arange(height - 1, -1, -1, dtype=np.float32) + np.float32(0.5)  # GL's y grows upwards
    pr = np.float32(pixel_ratio)
    u = (pr * frag_x / np.float32(res_w) - np.float32(0.5)) * np.float32(a1) + np.float32(0.5)
    v = (pr * frag_y / np.float32(res_h) - np.float32(0.5)) * np.float32(a2) + np.float32(0.5)
    vu, vv = np.meshgrid(u, np.float32(1.0) - v)
    return vu, vv


def source_coords(
    textures: Textures,
    params: ShaderParams,
    mouse: tuple[float, float],
    width: int,
    height: int,
    pixel_ratio: float = 1.0,
    canvas: WebCanvas | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Where each output pixel samples the photo (``fake3d`` before ``mirrored``), shape (height, width).

    In the layered mode this is the subject layer's lookup; :func:`layer_coords` adds the plate's and alpha.
    """
    depth = textures.depth.astype(np.float32) / np.float32(255.0)
    vu, vv = _base_uv(textures, width, height, pixel_ratio, canvas)
    th, tv = params.threshold()
    mx, my = np.float32(mouse[0]), np.float32(mouse[1])
    if params.layered:
        return _layered_lookup(vu, vv, depth, params, (mx / np.float32(th), my / np.float32(tv)))
    if params.occlusion_steps > 0:
        return _occluded_lookup(vu, vv, depth, params, (mx / np.float32(th), my / np.float32(tv)))
    return _displaced(vu, vv, relative_depth(_lookup(depth, vu, vv), params), params, mouse)


def _displaced(
    vu: np.ndarray, vv: np.ndarray, s: np.ndarray, params: ShaderParams, mouse: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """GLSL ``fake3d``'s step for one layer: ``vUv + s * mouse / threshold`` (one order of float operations)."""
    th, tv = params.threshold()
    return vu + s * np.float32(mouse[0]) / np.float32(th), vv + s * np.float32(mouse[1]) / np.float32(tv)


def _lookup(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A texture read as the shader does it: ``texture(tex, mirrored(uv))``."""
    return sample_linear(tex, mirrored(u), mirrored(v))


def matte_alpha(m: np.ndarray, params: ShaderParams) -> np.ndarray:
    """GLSL ``matteAlpha``: the matte through the threshold/feather ramp (a hard cut at feather 0)."""
    lo = np.float32(params.matte_threshold) - np.float32(params.matte_feather)
    width = np.maximum(np.float32(2.0) * np.float32(params.matte_feather), np.float32(1e-3))
    return np.clip((m.astype(np.float32) - lo) / width, np.float32(0.0), np.float32(1.0))


@dataclass(frozen=True)
class LayerCoords:
    """The layered mode's lookups per output pixel: subject uv, plate uv and the subject's opacity."""

    subject_u: np.ndarray
    subject_v: np.ndarray
    plate_u: np.ndarray
    plate_v: np.ndarray
    alpha: np.ndarray


def layer_coords(
    textures: Textures,
    params: ShaderParams,
    mouse: tuple[float, float],
    width: int,
    height: int,
    pixel_ratio: float = 1.0,
    canvas: WebCanvas | None = None,
) -> LayerCoords:
    """Both layers' lookups: the plate moves as the far plane (depth 0), the subject as its occlusion search."""
    if textures.plate is None or textures.matte is None:
        raise RenderError(
            "the layered mode needs the result's background plate and matte; this avatar has none",
            kind="no_layers",
        )
    su, sv = source_coords(textures, params, mouse, width, height, pixel_ratio, canvas)
    vu, vv = _base_uv(textures, width, height, pixel_ratio, canvas)
    pu, pv = _displaced(vu, vv, relative_depth(np.float32(0.0), params), params, mouse)
    matte = textures.matte.astype(np.float32) / np.float32(255.0)
    alpha = matte_alpha(_lookup(matte, su, sv), params)
    return LayerCoords(su, sv, pu, pv, alpha)


def render_float(
    textures: Textures,
    params: ShaderParams,
    mouse: tuple[float, float],
    width: int,
    height: int,
    pixel_ratio: float = 1.0,
    canvas: WebCanvas | None = None,
) -> np.ndarray:
    """One frame as float32 (height, width, 4) in [0, 1], row 0 at the top (like GL's, read back flipped).

    ``canvas`` (from :func:`web_canvas`) draws exactly the web component's canvas; ``width``/``height`` must be its.
    """
    photo = textures.photo.astype(np.float32) / np.float32(255.0)
    if params.layered:
        c = layer_coords(textures, params, mouse, width, height, pixel_ratio, canvas)
        assert textures.plate is not None
        plate = textures.plate.astype(np.float32) / np.float32(255.0)
        bg = _lookup(plate, c.plate_u, c.plate_v)
        fg = _lookup(photo, c.subject_u, c.subject_v)
        a = c.alpha[..., None]
        return (bg + (fg - bg) * a).astype(np.float32)
    pu, pv = source_coords(textures, params, mouse, width, height, pixel_ratio, canvas)
    return _lookup(photo, pu, pv).astype(np.float32)


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Float colour to an RGBA8 framebuffer value: round to nearest, as GL converts to unsigned normalised."""
    return np.round(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)


def render(
    textures: Textures,
    params: ShaderParams,
    mouse: tuple[float, float],
    width: int,
    height: int,
) -> np.ndarray:
    """One RGB uint8 frame (height, width, 3): the CPU preview/export path."""
    return to_uint8(render_float(textures, params, mouse, width, height))[..., :3]
