"""The artifact metric sees the split of the original shader, its absence in the fix, and the better modes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from depthstudio.render.artifact import score_motion, subject_mask, synthetic_portrait
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import prepare_textures
from tests.conftest import SAMPLE_AVATARS

# The pointer at the window edges: the largest motion the web shows.
PATH = np.array([(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0)])
SIZE = 224
ORIGINAL = ShaderParams.original()
FIXED = ShaderParams()
OCCLUSION = ShaderParams(occlusion_steps=12, counter_motion=0.0)


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_portrait(SIZE)


def test_original_plane_splits_the_synthetic_portrait_and_the_fix_does_not(synthetic):
    textures, mask = synthetic
    original = score_motion(textures, ORIGINAL, PATH, SIZE, SIZE, mask)
    fixed = score_motion(textures, FIXED, PATH, SIZE, SIZE, mask)
    assert original.split_px > 50
    assert fixed.split_px * 10 < original.split_px
    assert original.counter_motion_px > 5 * fixed.counter_motion_px


def test_occlusion_search_halves_the_clipping_of_the_fix_without_splitting(synthetic):
    textures, mask = synthetic
    fixed = score_motion(textures, FIXED, PATH, SIZE, SIZE, mask)
    better = score_motion(textures, OCCLUSION, PATH, SIZE, SIZE, mask)
    assert better.clipped_px < 0.5 * fixed.clipped_px
    assert better.split_px <= fixed.split_px + 5
    assert better.counter_motion_px == 0.0


@pytest.mark.parametrize(
    ("photo", "depth"), [("astronaut.png", "astronaut.png"), ("grace_hopper.jpg", "grace_hopper.png")]
)
def test_sample_avatars_rank_original_worst(photo, depth):
    # At the preview's scale: the metric's cost grows with the depth map's pixels.
    size = (
        SIZE,
        round(SIZE * Image.open(SAMPLE_AVATARS / photo).size[1] / Image.open(SAMPLE_AVATARS / photo).size[0]),
    )
    textures = prepare_textures(
        Image.open(SAMPLE_AVATARS / photo).convert("RGB").resize(size, Image.Resampling.BILINEAR),
        Image.open(SAMPLE_AVATARS.parent / "depth" / depth).resize(size, Image.Resampling.BILINEAR),
    )
    original = score_motion(textures, ORIGINAL, PATH, SIZE, SIZE)
    fixed = score_motion(textures, FIXED, PATH, SIZE, SIZE)
    better = score_motion(textures, OCCLUSION, PATH, SIZE, SIZE)
    assert original.split_px > 3 * max(fixed.split_px, 5)
    assert better.clipped_px < fixed.clipped_px


def test_no_motion_no_artifacts(synthetic):
    textures, mask = synthetic
    still = score_motion(textures, ORIGINAL, np.zeros((2, 2)), SIZE, SIZE, mask)
    assert still.split_px == still.clipped_px == still.counter_motion_px == 0


def test_subject_mask_separates_near_from_far():
    depth = np.zeros((20, 20), np.uint8)
    depth[5:15, 5:15] = 200
    depth[0, 0] = 30
    assert subject_mask(depth).sum() == 100
