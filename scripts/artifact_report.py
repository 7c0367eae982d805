"""Print the artifact metric (split / clipped / counter-motion) of each shader mode for the synthetic portrait
and the sample avatars with their hand-authored demo depth maps.

    /work/venv/bin/python scripts/artifact_report.py [--size 384] [--frames 8]

The motion is the pointer swept across the whole window (``sway``, amplitude 1, no easing): the largest
motion the web component shows. Figures are per-frame means in output pixels (and % of the subject's area).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from depthstudio.render.artifact import score_motion, synthetic_portrait
from depthstudio.render.motion import preset_path
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import prepare_textures

REPO = Path(__file__).resolve().parent.parent
MODES = {
    "original (plane 0.5)": ShaderParams.original(),
    "fixed (plane 0.05, default)": ShaderParams(),
    "fixed + counter_motion 0": ShaderParams(counter_motion=0.0),
    "occlusion_steps 8": ShaderParams(occlusion_steps=8),
    "occlusion_steps 16 + cm 0": ShaderParams(occlusion_steps=16, counter_motion=0.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    path = preset_path("sway", args.frames, args.frames, eased=False)
    subjects = {"synthetic portrait": synthetic_portrait(args.size)}
    for photo in sorted((REPO / "resources" / "demo" / "avatars").glob("*.*g")):
        depth = Image.open(REPO / "resources" / "demo" / "depth" / f"{photo.stem}.png")
        subjects[photo.stem] = (prepare_textures(Image.open(photo), depth), None)
    print(f"{'subject':20s} {'mode':28s} {'split px (%)':>16s} {'clipped px (%)':>16s} {'counter px':>10s}")
    for name, (textures, mask) in subjects.items():
        for mode, params in MODES.items():
            s = score_motion(textures, params, path, args.size, args.size, mask)
            print(
                f"{name:20s} {mode:28s} {s.split_px:8.0f} ({s.split_percent:4.2f}) "
                f"{s.clipped_px:8.0f} ({s.clipped_percent:4.2f}) {s.counter_motion_px:10.2f}"
            )


if __name__ == "__main__":
    main()
