"""Render the hand-authored demo depth maps (resources/demo/depth/hand_authored.json) to 8-bit PNGs.

These are approximations drawn from a few parametric shapes, not the output of a depth model (no weights can
be downloaded here); resources/demo/depth/README.md says so. Each map has the size of its photo.

    /work/venv/bin/python scripts/make_demo_depth.py [--check]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parent.parent
AVATARS = REPO / "resources" / "demo" / "avatars"
DEPTH = REPO / "resources" / "demo" / "depth"


def _feather(inside_distance: np.ndarray, soft: float) -> np.ndarray:
    """Coverage from a signed distance (positive inside, px): a smoothstep over ``soft`` pixels."""
    t = np.clip(inside_distance / max(soft, 1e-3) + 0.5, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _shape(spec: dict, xx: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, dome) of one shape; dome is 1 at its middle and 0 at its rim."""
    kind = spec["kind"]
    soft = float(spec.get("soft", 2))
    if kind == "ellipse":
        a = math.radians(spec.get("angle", 0.0))
        dx, dy = xx - spec["cx"], yy - spec["cy"]
        u = (dx * math.cos(a) + dy * math.sin(a)) / spec["rx"]
        v = (-dx * math.sin(a) + dy * math.cos(a)) / spec["ry"]
        r = np.sqrt(u * u + v * v)
        inside = (1.0 - r) * min(spec["rx"], spec["ry"])
        return _feather(inside, soft), np.sqrt(np.clip(1.0 - r * r, 0.0, 1.0))
    if kind == "capsule":
        ax, ay, bx, by = spec["x1"], spec["y1"], spec["x2"], spec["y2"]
        abx, aby = bx - ax, by - ay
        t = np.clip(((xx - ax) * abx + (yy - ay) * aby) / max(abx * abx + aby * aby, 1e-9), 0.0, 1.0)
        dist = np.hypot(xx - (ax + t * abx), yy - (ay + t * aby))
        rel = dist / spec["r"]
        return _feather(spec["r"] - dist, soft), np.sqrt(np.clip(1.0 - rel * rel, 0.0, 1.0))
    if kind == "polygon":
        h, w = xx.shape
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).polygon([tuple(p) for p in spec["points"]], fill=255)
        hard = np.asarray(mask, dtype=np.float32) / 255.0
        cover = np.asarray(mask.filter(ImageFilter.GaussianBlur(soft / 2)), dtype=np.float32) / 255.0
        # Dome: distance to the rim, approximated by a wide blur of the mask (bright in the middle).
        wide = np.asarray(mask.filter(ImageFilter.GaussianBlur(min(w, h) / 10)), dtype=np.float32) / 255.0
        dome = np.clip((wide - 0.5) * 2.0, 0.0, 1.0) * hard
        return cover, dome
    raise ValueError(f"unknown shape kind {kind!r}")


def render_depth(spec: dict, width: int, height: int) -> np.ndarray:
    """Float disparity in [0, 1] (white = near), min-max normalised like a model's output."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    out = np.full((height, width), float(spec["background"]), dtype=np.float32)
    for shape in spec["shapes"]:
        if shape["kind"] == "gradient":
            t = np.clip((yy - shape["y0"]) / (shape["y1"] - shape["y0"]), 0.0, 1.0)
            ramp = shape["depth"] + t * (shape["depth_end"] - shape["depth"])
            out = np.where(yy >= shape["y0"], np.maximum(out, ramp), out)
            continue
        cover, dome = _shape(shape, xx, yy)
        value = shape["depth"] + shape.get("bulge", 0.0) * dome
        out = out * (1.0 - cover) + value * cover
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the PNGs are up to date")
    args = parser.parse_args()
    specs = json.loads((DEPTH / "hand_authored.json").read_text())
    stale = []
    for name, spec in specs.items():
        if name.startswith("_"):
            continue
        with Image.open(AVATARS / name) as photo:
            width, height = photo.size
        depth = render_depth(spec, width, height)
        png = Image.fromarray(np.round(depth * 255).astype(np.uint8), mode="L")
        target = DEPTH / f"{Path(name).stem}.png"
        if args.check:
            if not target.exists() or not np.array_equal(np.asarray(Image.open(target)), np.asarray(png)):
                stale.append(target.name)
            continue
        png.save(target, optimize=True)
        print(f"{target.relative_to(REPO)}  {width}x{height}")
    if stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
