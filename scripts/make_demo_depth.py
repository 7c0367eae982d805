"""Trace the hand-authored demo depth maps on their photos (resources/demo/depth/hand_authored.json -> PNGs).

The maps are drawn by hand, not made by a depth model (no weights can be downloaded here); the README beside
them says so. What is stored is a rough hand-placed outline per part of each subject (polygons, and strokes
with a width for thin things such as tripod legs), a depth level and a dome per part, and a background ramp.
The outline is not the silhouette: GrabCut, seeded by it (sure subject well inside, sure background well
outside, "probably" in a band of ``band`` px either side), moves the silhouette onto the photo's own edges.
Each subject pixel then takes the nearest part's level plus its dome (rounder and nearer in the middle), the
parts' steps are smoothed inside the subject only, and the silhouette keeps a one-pixel soft edge.

    .venv/bin/python scripts/make_demo_depth.py [--check]

``--check`` re-traces and compares with the committed PNGs (at most 2 levels apart on 99.5 % of the pixels:
GrabCut's float maths may differ by a rounding between OpenCV builds).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
AVATARS = REPO / "resources" / "demo" / "avatars"
DEPTH = REPO / "resources" / "demo" / "depth"
GRABCUT_ITERATIONS = 6
GROW = 2  # px at 512: the traced silhouette is grown by this much
SMOOTH_SIGMA = 0.02  # of the long side: how far the steps between parts are blended inside the subject


def _raster(part: dict, shape: tuple[int, int], core: bool = False) -> np.ndarray:
    """uint8 mask of one part: a filled polygon, or a polyline of ``width`` px (its 2-px core if ``core``)."""
    out = np.zeros(shape, np.uint8)
    pts = np.round(np.asarray(part["points"], np.float64)).astype(np.int32).reshape(-1, 1, 2)
    if part["kind"] == "polygon":
        if not core:
            cv2.fillPoly(out, [pts], 1, lineType=cv2.LINE_8)
    elif part["kind"] == "stroke":
        width = 2 if core else int(part["width"])
        cv2.polylines(out, [pts], False, 1, thickness=max(1, width), lineType=cv2.LINE_8)
    else:
        raise ValueError(f"unknown part kind {part['kind']!r}")
    return out


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def trace_silhouette(photo: np.ndarray, parts: list[dict], band: int) -> np.ndarray:
    """bool (h, w): GrabCut's subject, seeded by the parts' outlines with a band of doubt either side."""
    h, w = photo.shape[:2]
    rough = np.zeros((h, w), np.uint8)
    cores = np.zeros((h, w), np.uint8)
    for part in parts:
        rough |= _raster(part, (h, w))
        cores |= _raster(part, (h, w), core=True)
    seed = np.full((h, w), cv2.GC_BGD, np.uint8)
    for part in parts:  # a thin part over texture (a tripod leg on grass) gets a narrower band of doubt
        seed[cv2.dilate(_raster(part, (h, w)), _disk(int(part.get("band", band)))) > 0] = cv2.GC_PR_BGD
    seed[rough > 0] = cv2.GC_PR_FGD
    seed[(cv2.erode(rough, _disk(band)) > 0) | (cores > 0)] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(photo[..., :3]), seed, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    subject = ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).astype(np.uint8)
    # Specks: keep the components that touch a part's core (the subject is what the strokes say it is).
    count, labels = cv2.connectedComponents(subject, connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[(cores > 0) | (cv2.erode(rough, _disk(band)) > 0)])] = True
    keep[0] = False
    subject = keep[labels]
    # Holes smaller than a band's disk inside the subject are GrabCut's noise, not background seen through it.
    filled = cv2.morphologyEx(subject.astype(np.uint8), cv2.MORPH_CLOSE, _disk(2)) > 0
    return filled


def _dome(region: np.ndarray) -> np.ndarray:
    """0 at the region's rim rising to 1 at its deepest point, as a sphere's profile (round, not a cone)."""
    dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
    t = dist / max(float(dist.max()), 1.0)
    return np.sqrt(np.clip(1.0 - (1.0 - t) ** 2, 0.0, 1.0))


def render_depth(photo: np.ndarray, spec: dict) -> np.ndarray:
    """Float disparity in [0, 1] (white = near), min-max normalised like a model's output."""
    h, w = photo.shape[:2]
    parts = spec["parts"]
    # Grown by a pixel or two, as DepthFlow fattens a model's foreground: the photo's last pixels of hair and
    # coat then move with the subject instead of staying behind as a thin ghost outline at full deflection.
    grow = max(1, round(GROW * max(h, w) / 512))
    subject = cv2.dilate(trace_silhouette(photo, parts, int(spec.get("band", 8))).astype(np.uint8), _disk(grow)) > 0
    # Each subject pixel belongs to the nearest part; where parts overlap, the later (nearer) one.
    dists = []
    for order, part in enumerate(parts):
        inside = _raster(part, (h, w))
        dists.append(cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5) - 1e-3 * order)
    label = np.argmin(np.stack(dists), axis=0)
    near = np.zeros((h, w), np.float32)
    for index, part in enumerate(parts):
        region = subject & (label == index)
        if region.any():
            near[region] = (part["depth"] + part.get("bulge", 0.0) * _dome(region))[region]
    # The steps between parts are blended inside the subject only (normalised convolution), so the
    # silhouette stays where GrabCut put it.
    sigma = SMOOTH_SIGMA * max(h, w)
    weight = cv2.GaussianBlur(subject.astype(np.float32), (0, 0), sigma)
    near = cv2.GaussianBlur(near * subject, (0, 0), sigma) / np.maximum(weight, 1e-6)
    ramp = spec["background"]
    yy = (np.arange(h, dtype=np.float32) + 0.5)[:, None]
    t = np.clip((yy - ramp["y0"]) / max(ramp["y1"] - ramp["y0"], 1), 0.0, 1.0)
    far = np.broadcast_to(ramp["far"] + t * (ramp["near"] - ramp["far"]), (h, w)).astype(np.float32)
    # A one-pixel soft edge (bilinear-like coverage), no wider: the silhouette is the photo's edge.
    cover = cv2.GaussianBlur(subject.astype(np.float32), (0, 0), 0.6)
    out = far * (1.0 - cover) + np.where(subject, near, cv2.dilate(near * subject, _disk(2))) * cover
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo)


def _photo(name: str) -> np.ndarray:
    with Image.open(AVATARS / name) as image:
        return np.asarray(image.convert("RGB"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the PNGs are up to date")
    parser.add_argument("names", nargs="*", help="photo file names (default: all in the spec)")
    args = parser.parse_args()
    specs = json.loads((DEPTH / "hand_authored.json").read_text())
    stale = []
    for name, spec in specs.items():
        if name.startswith("_") or (args.names and name not in args.names):
            continue
        depth = np.round(render_depth(_photo(name), spec) * 255).astype(np.uint8)
        target = DEPTH / f"{Path(name).stem}.png"
        if args.check:
            if not target.exists():
                stale.append(target.name)
                continue
            committed = np.asarray(Image.open(target)).astype(int)
            if committed.shape != depth.shape:
                stale.append(target.name)
                continue
            diff = np.abs(committed - depth.astype(int))
            if (diff > 2).mean() > 0.005:
                stale.append(target.name)
            continue
        Image.fromarray(depth, mode="L").save(target, optimize=True)
        print(f"{target.relative_to(REPO)}  {depth.shape[1]}x{depth.shape[0]}")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
