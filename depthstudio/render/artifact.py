"""How much a parallax render "splits the avatar in two", measured against the geometrically ideal frame.

The ideal frame moves every photo pixel by its own displacement (a forward warp of the subject mask). The
shader instead looks the depth up at the *output* pixel, so the depth silhouette stays still while the photo
slides; what that costs is counted in output pixels per frame:

- ``split``: subject content shown where the ideal frame has background, i.e. a copy of the subject's edge
  detached from the subject by a band of background. This is the "split into two" of the original shader.
- ``clipped``: background shown where the ideal frame has the subject (cut by its own still silhouette).
- ``smeared``: background the motion uncovers (subject at rest, background in the ideal frame) whose colour
  comes from the subject's side of the edge (a source within a few texels of the silhouette, or the subject
  layer where the layered mode draws it opaque): the halo of a stretched edge.
- ``counter_motion``: mean displacement, in pixels, of the frame moving against the subject's direction.

Why it ships in the package rather than under tests/: the layered mode uses its ``otsu_threshold`` at run
time (``render/plate_matte.py``), and ``scripts/artifact_report.py`` prints the metric per shader mode for
designers comparing modes; the tests use the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import (
    Textures,
    aspect_fit,
    layer_coords,
    mirrored,
    prepare_textures,
    relative_depth,
    sample_linear,
    source_coords,
)


@dataclass(frozen=True)
class ArtifactScore:
    split_px: float
    clipped_px: float
    counter_motion_px: float
    subject_px: float
    smeared_px: float = 0.0

    @property
    def split_percent(self) -> float:
        """Split pixels as a percentage of the subject's area (comparable across image sizes)."""
        return 100.0 * self.split_px / max(self.subject_px, 1.0)

    @property
    def clipped_percent(self) -> float:
        return 100.0 * self.clipped_px / max(self.subject_px, 1.0)


def otsu_threshold(depth: np.ndarray) -> int:
    """Otsu's threshold of an 8-bit depth map: levels above it are the near class."""
    hist = np.bincount(depth.ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * levels)
    mean0 = m0 / np.maximum(w0, 1)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return int(np.argmax(between))


def subject_mask(depth: np.ndarray) -> np.ndarray:
    """Near/far split of an 8-bit depth map by Otsu's threshold (a portrait's subject is the near class)."""
    return depth > otsu_threshold(depth)


def _ideal_subject(
    textures: Textures,
    mask: np.ndarray,
    params: ShaderParams,
    mouse: tuple[float, float],
    width: int,
    height: int,
) -> np.ndarray:
    """Forward warp of the subject mask: where the subject is if each pixel moves by its own depth."""
    h, w = mask.shape
    oversample = 2  # splat sub-texel points so a stretching displacement leaves no holes
    margin = 0.25  # the shader shows the mirrored photo past its edges; so does the ideal frame
    gy, gx = np.mgrid[
        -round(margin * h * oversample) : round((1 + margin) * h * oversample),
        -round(margin * w * oversample) : round((1 + margin) * w * oversample),
    ].astype(np.float32)
    su = (gx + 0.5) / np.float32(w * oversample)
    sv = (gy + 0.5) / np.float32(h * oversample)
    inside = sample_linear(mask.astype(np.float32), mirrored(su), mirrored(sv)) >= 0.5
    depth = textures.depth.astype(np.float32) / np.float32(255.0)
    s = relative_depth(sample_linear(depth, mirrored(su), mirrored(sv)), params)
    th, tv = params.threshold()
    # The shader shows photo point p at the output uv x where x + s * k = p.
    tu = su - s * np.float32(mouse[0]) / np.float32(th)
    tv_ = sv - s * np.float32(mouse[1]) / np.float32(tv)
    a1, a2 = aspect_fit(width, height, *textures.photo_size)
    col = ((tu - 0.5) / a1 + 0.5) * width - 0.5
    frag_y = ((0.5 - tv_) / a2 + 0.5) * height
    row = height - 0.5 - frag_y
    ci = np.round(col[inside]).astype(np.int64)
    ri = np.round(row[inside]).astype(np.int64)
    ok = (ci >= 0) & (ci < width) & (ri >= 0) & (ri < height)
    ideal = np.zeros((height, width), dtype=bool)
    ideal[ri[ok], ci[ok]] = True
    return ideal


EDGE_BAND = 3  # texels of the depth map either side of the silhouette that count as "the subject's side"


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3x3 dilation: a one-pixel tolerance, so rounding at the silhouette is not counted as an artifact."""
    padded = np.pad(mask, 1)
    out = np.zeros_like(mask)
    h, w = mask.shape
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy : dy + h, dx : dx + w]
    return out


def score_frame(
    textures: Textures,
    params: ShaderParams,
    mouse: tuple[float, float],
    width: int,
    height: int,
    mask: np.ndarray | None = None,
) -> ArtifactScore:
    """Artifacts of one frame; ``mask``: the subject in depth-map pixels (default: :func:`subject_mask`)."""
    if mask is None:
        mask = subject_mask(textures.depth)
    if params.layered:
        layers = layer_coords(textures, params, mouse, width, height)
        pu, pv = layers.subject_u, layers.subject_v
        shown = layers.alpha >= 0.5
    else:
        pu, pv = source_coords(textures, params, mouse, width, height)
        shown = sample_linear(mask.astype(np.float32), mirrored(pu), mirrored(pv)) >= 0.5
    ideal = _ideal_subject(textures, mask, params, mouse, width, height)
    ru, rv = source_coords(textures, params, (0.0, 0.0), width, height)
    at_rest = sample_linear(mask.astype(np.float32), mirrored(ru), mirrored(rv)) >= 0.5
    band = mask
    for _ in range(EDGE_BAND):
        band = _dilate(band)
    from_subject_side = sample_linear(band.astype(np.float32), mirrored(pu), mirrored(pv)) >= 0.5
    if params.layered:
        from_subject_side &= shown
    uncovered = at_rest & ~_dilate(ideal)
    # Per-pixel displacement at rest (in output pixels), compared with the subject's mean direction.
    a1, a2 = aspect_fit(width, height, *textures.photo_size)
    depth = textures.depth.astype(np.float32) / np.float32(255.0)
    s = relative_depth(depth, params)
    th, tv = params.threshold()
    dx = -s * mouse[0] / th * width / a1
    dy = s * mouse[1] / tv * height / a2
    sub_x, sub_y = (
        float(dx[mask].mean()) if mask.any() else 0.0,
        float(dy[mask].mean()) if mask.any() else 0.0,
    )
    norm = float(np.hypot(sub_x, sub_y))
    counter = 0.0
    if norm > 0:
        along = (dx * sub_x + dy * sub_y) / norm
        counter = float(np.maximum(-along, 0.0).mean())
    subject_area = float(mask.mean()) * width * height
    return ArtifactScore(
        split_px=float((shown & ~_dilate(ideal)).sum()),
        clipped_px=float((ideal & ~_dilate(shown)).sum()),
        counter_motion_px=counter,
        subject_px=subject_area,
        smeared_px=float((uncovered & from_subject_side).sum()),
    )


def score_motion(
    textures: Textures,
    params: ShaderParams,
    path: np.ndarray,
    width: int,
    height: int,
    mask: np.ndarray | None = None,
) -> ArtifactScore:
    """Mean per-frame artifacts over a motion path (e.g. ``motion.preset_path("sway", 12)``)."""
    if mask is None:
        mask = subject_mask(textures.depth)
    scores = [score_frame(textures, params, (float(x), float(y)), width, height, mask) for x, y in path]
    return ArtifactScore(
        split_px=float(np.mean([s.split_px for s in scores])),
        clipped_px=float(np.mean([s.clipped_px for s in scores])),
        counter_motion_px=float(np.mean([s.counter_motion_px for s in scores])),
        subject_px=scores[0].subject_px,
        smeared_px=float(np.mean([s.smeared_px for s in scores])),
    )


def synthetic_portrait(size: int = 256) -> tuple[Textures, np.ndarray]:
    """A textured head-and-shoulders on a far, striped wall, with its exact depth and subject mask."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    c = size / 2.0
    head = ((xx - c) / (0.22 * size)) ** 2 + ((yy - 0.42 * size) / (0.28 * size)) ** 2 < 1.0
    shoulders = ((xx - c) / (0.45 * size)) ** 2 + ((yy - 1.05 * size) / (0.35 * size)) ** 2 < 1.0
    subject = head | shoulders
    stripes = (np.sin(xx / size * 40.0) > 0).astype(np.float32)
    checks = ((xx // (size / 32) + yy // (size / 32)) % 2).astype(np.float32)
    photo = np.empty((size, size, 3), dtype=np.float32)
    photo[..., 0] = np.where(subject, 0.85 - 0.25 * checks, 0.2 + 0.2 * stripes)
    photo[..., 1] = np.where(subject, 0.55 - 0.15 * checks, 0.35 + 0.2 * stripes)
    photo[..., 2] = np.where(subject, 0.4, 0.75)
    dome = np.sqrt(np.clip(1.0 - ((xx - c) / (0.22 * size)) ** 2 - ((yy - 0.42 * size) / (0.28 * size)) ** 2, 0, 1))
    depth = np.where(head, 0.85 + 0.15 * dome, np.where(shoulders, 0.7, 0.0))
    textures = prepare_textures(np.round(photo * 255).astype(np.uint8), depth)
    return textures, subject
