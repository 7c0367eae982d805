"""The committed demo depth maps are exactly what the hand-authored spec renders, in the depth convention."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image

from tests.conftest import REPO, SAMPLE_AVATARS

DEPTH_DIR = REPO / "resources" / "demo" / "depth"


def test_pngs_are_up_to_date_with_the_spec():
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_demo_depth.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_each_sample_avatar_has_a_map_of_its_size_with_the_subject_nearer_than_the_corners():
    for photo in sorted(SAMPLE_AVATARS.glob("*.*g")):
        depth_path = DEPTH_DIR / f"{photo.stem}.png"
        with Image.open(photo) as p, Image.open(depth_path) as d:
            assert d.mode == "L" and d.size == p.size
            depth = np.asarray(d)
        assert depth.min() == 0 and depth.max() == 255  # min-max normalised
        h, w = depth.shape
        centre = depth[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].mean()
        assert centre > depth[: h // 8, : w // 8].mean()  # white = near: not inverted
