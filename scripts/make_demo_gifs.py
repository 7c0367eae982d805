"""Make docs/demo/<subject>.gif: each demo avatar at full deflection, the default shader beside the layered mode.

The pointer goes round the window's edge through all four corners (the largest motion the web shows), with no
easing, so every frame is at or near full deflection. Frames come from the numpy reference (the GL shader's
twin), so this runs anywhere. ``--frames-dir`` also writes each frame as a PNG, for looking at them one by one.

    .venv/bin/python scripts/make_demo_gifs.py [--size 200] [--frames 16] [--frames-dir /tmp/frames]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image, ImageDraw

from depthstudio.render.params import ShaderParams
from depthstudio.render.plate_matte import prepare_layered_textures
from depthstudio.render.reference import render

REPO = Path(__file__).resolve().parent.parent
AVATARS = REPO / "resources" / "demo" / "avatars"
DEPTH = REPO / "resources" / "demo" / "depth"
OUT = REPO / "docs" / "demo"
MODES = {"default": ShaderParams(), "layered": ShaderParams(layered=True)}
LABEL_HEIGHT = 14


def edge_path(frames: int) -> np.ndarray:
    """(frames, 2) pointer positions evenly spaced round the square [-1, 1]², starting at the top-right corner."""
    corners = np.array([(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)])
    t = np.arange(frames) * 4.0 / frames
    side = np.floor(t).astype(int) % 4
    frac = (t - np.floor(t))[:, None]
    return corners[side] * (1.0 - frac) + corners[(side + 1) % 4] * frac


def _labelled(frame: np.ndarray, text: str) -> Image.Image:
    image = Image.new("RGB", (frame.shape[1], frame.shape[0] + LABEL_HEIGHT), (24, 24, 24))
    image.paste(Image.fromarray(frame), (0, LABEL_HEIGHT))
    ImageDraw.Draw(image).text((4, 1), text, fill=(230, 230, 230))
    return image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200, help="pixels of each panel's long side")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--frames-dir", type=Path, help="also write every frame as a PNG here")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = edge_path(args.frames)
    for photo_path in sorted(AVATARS.glob("*.*g")):
        with Image.open(photo_path) as photo, Image.open(DEPTH / f"{photo_path.stem}.png") as depth:
            textures = prepare_layered_textures(photo, depth)
        w, h = textures.photo_size
        scale = args.size / max(w, h)
        width, height = round(w * scale), round(h * scale)
        frames = []
        for i, (x, y) in enumerate(path):
            mouse = (float(x), float(y))
            panels = [
                _labelled(render(textures, params, mouse, width, height), f"{mode}  ({x:+.1f}, {y:+.1f})")
                for mode, params in MODES.items()
            ]
            frame = Image.new("RGB", (2 * width + 4, height + LABEL_HEIGHT), (24, 24, 24))
            frame.paste(panels[0], (0, 0))
            frame.paste(panels[1], (width + 4, 0))
            frames.append(frame)
            if args.frames_dir:
                args.frames_dir.mkdir(parents=True, exist_ok=True)
                frame.save(args.frames_dir / f"{photo_path.stem}-{i:02d}.png")
        target = OUT / f"{photo_path.stem}.gif"
        palette = [f.quantize(colors=96, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for f in frames]
        palette[0].save(
            target, save_all=True, append_images=palette[1:], duration=round(1000 / args.fps), loop=0, optimize=True
        )
        print(f"{target.relative_to(REPO)}  {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
