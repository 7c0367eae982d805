"""Cost per avatar of the layered mode's plate: the textured fill against the diffusion fill alone, one run;
and of the matte's photo evidence (``looks_like_background``), which also runs once per avatar.

The baseline is the plate before issue 25 (Navier-Stokes at 192 px only, ``background_plate(texture=False,
inpaint_side=192)``); both time
the whole plate (hole, inpainting, upsampling) on the same photos and mattes, alternating, best of ``--repeat``.
The photos are the four demo avatars at their own size (about 512 px) and at 128 px (what benchmarks/bulk_job.py
feeds the job). Last line: one JSON object.

    .venv/bin/python benchmarks/layers.py [--repeat 5] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np
from PIL import Image

from depthstudio.render.artifact import otsu_threshold
from depthstudio.render.plate_matte import background_plate, inside_silhouette, looks_like_background, soft_matte
from depthstudio.render.reference import prepare_textures

REPO = Path(__file__).resolve().parent.parent
AVATARS = REPO / "resources" / "demo" / "avatars"
DEPTH = REPO / "resources" / "demo" / "depth"


def _inputs(side: int | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """(photo RGBA, plate matte, depth, Otsu threshold) per demo avatar."""
    out = []
    for photo_path in sorted(AVATARS.glob("*.*g")):
        with Image.open(photo_path) as photo, Image.open(DEPTH / f"{photo_path.stem}.png") as depth:
            textures = prepare_textures(photo, depth)
        rgba, d = textures.photo, textures.depth
        if side is not None:
            scale = side / max(d.shape)
            size = (max(1, round(d.shape[1] * scale)), max(1, round(d.shape[0] * scale)))
            rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
            d = cv2.resize(d, size, interpolation=cv2.INTER_AREA)
        threshold = otsu_threshold(d)
        soft = soft_matte(rgba, d, threshold)
        out.append((rgba, np.maximum(soft, inside_silhouette(soft, d, threshold)), d, threshold))
    return out


def _best_ms(inputs: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]], texture: bool, repeat: int) -> float:
    kwargs = {} if texture else {"texture": False, "inpaint_side": 192}
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for rgba, matte, _, _ in inputs:
            background_plate(rgba, matte, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best / len(inputs)


def _evidence_ms(inputs: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for rgba, _, depth, threshold in inputs:
            looks_like_background(rgba, depth, threshold)
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best / len(inputs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="one repeat, 128 px only")
    args = ap.parse_args()
    repeat = 1 if args.smoke else args.repeat
    figures: dict[str, float] = {}
    for label, side in [("128px", 128)] if args.smoke else [("128px", 128), ("own size", None)]:
        inputs = _inputs(side)
        smooth = _best_ms(inputs, False, repeat)
        textured = _best_ms(inputs, True, repeat)
        evidence = _evidence_ms(inputs, repeat)
        print(
            f"{label:9s} plate before {smooth:7.1f} ms/avatar   textured fill {textured:7.1f} ms/avatar"
            f"   ratio {textured / smooth:.2f}   matte evidence {evidence:6.2f} ms/avatar"
        )
        key = label.replace(" ", "_")
        figures[f"{key}_before_ms"] = round(smooth, 2)
        figures[f"{key}_textured_ms"] = round(textured, 2)
        figures[f"{key}_ratio"] = round(textured / smooth, 3)
        figures[f"{key}_evidence_ms"] = round(evidence, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
