"""Print the artifact metric (split / clipped / smeared) of each shader mode for the synthetic portrait and
the sample avatars with their hand-authored demo depth maps, and how well map and plate fit each photo.

    .venv/bin/python scripts/artifact_report.py [--size 384] [--frames 8] [--json]

The motion is the pointer swept across the whole window (``sway``, amplitude 1, no easing): the largest
motion the web component shows. Figures are per-frame means in output pixels (and % of the subject's area). A
sample avatar's subject is its depth silhouette less what the photo clearly shows as background there
(depthstudio.render.plate_matte.looks_like_background), the subject the layered mode composites.
``--json`` prints one JSON list instead, a record per subject x mode: {subject, mode, split, clipped, smeared,
edges, texture}.
The layered mode uses the plate and matte that depthstudio.render.plate_matte derives from the photo and depth.

Those three figures measure against the depth silhouette, so a silhouette beside the subject or a plate filled
with a smooth smear pass them; two more look at the photo (per subject, depthstudio.render.photo_fit):
``edges``: the share of the depth silhouette's outline on the photo's own edges (target >= 0.9 for the demo
maps); ``texture``: the plate's mean gradient inside its filled region over the photo's around it (>= 0.6).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from depthstudio.render.artifact import score_motion, subject_mask, synthetic_portrait
from depthstudio.render.motion import preset_path
from depthstudio.render.params import ShaderParams
from depthstudio.render.photo_fit import fill_texture, silhouette_on_edges
from depthstudio.render.plate_matte import layer_hole, looks_like_background, with_derived_layers
from depthstudio.render.reference import prepare_textures

REPO = Path(__file__).resolve().parent.parent
MODES = {
    "original": ShaderParams.original(),
    "fixed": ShaderParams(),
    "occlusion": ShaderParams(occlusion_steps=16),
    "layered": ShaderParams(layered=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="one JSON list of records instead of the table")
    args = parser.parse_args()
    path = preset_path("sway", args.frames, args.frames, eased=False)
    synthetic, synthetic_mask = synthetic_portrait(args.size)
    subjects = {"synthetic portrait": (synthetic, synthetic_mask)}
    for photo in sorted((REPO / "resources" / "demo" / "avatars").glob("*.*g")):
        depth = Image.open(REPO / "resources" / "demo" / "depth" / f"{photo.stem}.png")
        textures = prepare_textures(Image.open(photo), depth)
        # The subject is what map and photo agree on: the layered mode shows the plate, on purpose, where the
        # photo clearly shows background inside the depth silhouette; that is not the subject clipped.
        agreed = subject_mask(textures.depth) & ~looks_like_background(textures.photo, textures.depth)
        subjects[photo.stem] = (textures, agreed)
    records = []
    if not args.json:
        print(
            f"{'subject':20s} {'mode':10s} {'split px (%)':>16s} {'clipped px (%)':>16s} {'smeared px':>10s}"
            f" {'edges':>6s} {'texture':>7s}"
        )
    for name, (textures, mask) in subjects.items():
        layered = with_derived_layers(textures)
        edges = silhouette_on_edges(textures.photo, textures.depth)
        texture = fill_texture(textures.photo, layered.plate, layer_hole(textures.photo, textures.depth))
        for mode, params in MODES.items():
            s = score_motion(layered, params, path, args.size, args.size, mask)
            records.append(
                {
                    "subject": name,
                    "mode": mode,
                    "split": round(s.split_px, 1),
                    "clipped": round(s.clipped_px, 1),
                    "smeared": round(s.smeared_px, 1),
                    "edges": round(edges, 3),
                    "texture": round(texture, 3),
                }
            )
            if not args.json:
                print(
                    f"{name:20s} {mode:10s} {s.split_px:8.0f} ({s.split_percent:4.2f}) "
                    f"{s.clipped_px:8.0f} ({s.clipped_percent:4.2f}) {s.smeared_px:10.0f} {edges:6.2f} {texture:7.2f}"
                )
    if args.json:
        print(json.dumps(records))


if __name__ == "__main__":
    main()
