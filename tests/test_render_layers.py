"""The layered mode: plate + matte derived from the photo and depth, the GLSL against the numpy reference.

Same tolerance as tests/test_render_gl.py (which holds the GL context helpers); its own module-scoped context,
because the exporter test there closes the context it makes current.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from depthstudio.errors import RenderError
from depthstudio.render.artifact import score_motion, subject_mask, synthetic_portrait
from depthstudio.render.motion import preset_path
from depthstudio.render.params import ShaderParams
from depthstudio.render.plate_matte import (
    background_plate,
    derive_layers,
    looks_like_background,
    soft_matte,
    with_derived_layers,
)
from depthstudio.render.reference import render_float, to_uint8
from tests.test_render_gl import MAX_ABS, MAX_FRACTION_OVER_1, _avatar, _context, _draw, _random_params


@dataclass(frozen=True)
class MatteQuality:
    """The matte against a reference mask: IoU of the 0.5 cut, and the mean width of its soft edge in px."""

    iou: float
    edge_width_px: float


def matte_quality(matte: np.ndarray, reference: np.ndarray) -> MatteQuality:
    cut = matte >= 128
    union = float((cut | reference).sum())
    iou = float((cut & reference).sum()) / union if union else 1.0
    soft = float(((matte > 12) & (matte < 243)).sum())
    contour = cv2.findContours(reference.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)[0]
    length = float(sum(cv2.arcLength(c, True) for c in contour))
    return MatteQuality(iou=iou, edge_width_px=soft / length if length else 0.0)


@pytest.fixture(scope="module")
def gl_context() -> Iterator[object]:
    ctx = _context("gl")
    yield ctx
    ctx.close()


def _layered_avatar(name: str, size: int):
    return with_derived_layers(_avatar(name, size))


LAYERED_CASES = [(i, size) for i, size in enumerate([(96, 96), (128, 72), (72, 128), (101, 67)] * 2)]


@pytest.mark.parametrize(("seed", "size"), LAYERED_CASES, ids=[f"{s}-{w}x{h}" for s, (w, h) in LAYERED_CASES])
@pytest.mark.gl
def test_gl_matches_the_reference_in_the_layered_mode(gl_context, seed, size):
    rng = np.random.default_rng(100 + seed)
    name = ["astronaut.png", "chelsea.png", "grace_hopper.jpg", "camera.png"][seed % 4]
    textures = _layered_avatar(name, 120)
    params = _random_params(rng).with_values(
        layered=True, matte_threshold=float(rng.uniform(0.2, 0.8)), matte_feather=float(rng.uniform(0.0, 0.4))
    )
    mouse = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
    width, height = size
    gl = _draw(textures, params, mouse, width, height).astype(int)
    ref = to_uint8(render_float(textures, params, mouse, width, height)).astype(int)
    err = np.abs(gl - ref).max(axis=-1)
    assert err.max() <= MAX_ABS, (params, mouse, err.max())
    assert (err > 1).mean() <= MAX_FRACTION_OVER_1


@pytest.mark.gl
def test_the_layered_mode_shows_the_plate_where_the_subject_uncovers_background(gl_context):
    textures = _layered_avatar("astronaut.png", 120)
    one_layer = _draw(textures, ShaderParams(occlusion_steps=16), (1.0, 0.0), 96, 96).astype(int)
    layered = _draw(textures, ShaderParams(layered=True), (1.0, 0.0), 96, 96).astype(int)
    plate = to_uint8(
        render_float(textures, ShaderParams(layered=True, matte_threshold=1.0, matte_feather=0.0), (1.0, 0.0), 96, 96)
    ).astype(int)
    assert np.abs(layered - one_layer).max() > 16  # the two modes really differ somewhere
    assert (np.abs(layered - plate).max(axis=-1) <= 2).mean() > 0.2  # and the plate shows around the subject


@pytest.mark.gl
def test_the_layered_mode_without_a_plate_and_matte_is_a_clear_error(gl_context):
    with pytest.raises(RenderError, match="plate and matte"):
        _draw(_avatar("camera.png", 64), ShaderParams(layered=True), (0.5, 0.5), 32, 32)


def test_the_reference_refuses_the_layered_mode_without_layers():
    with pytest.raises(RenderError, match="plate and matte"):
        render_float(_avatar("camera.png", 64), ShaderParams(layered=True), (0.5, 0.5), 32, 32)


def test_the_matte_follows_the_subject_of_the_hand_authored_map():
    textures = _avatar("astronaut.png", 160)
    matte = derive_layers(textures.photo, textures.depth)[1]
    quality = matte_quality(matte, subject_mask(textures.depth))
    assert matte.shape == textures.depth.shape and matte.dtype == np.uint8
    assert quality.iou > 0.95
    assert 0.0 < quality.edge_width_px < 20.0


def test_the_plate_removes_the_subject_and_keeps_the_background():
    textures, mask = synthetic_portrait(128)
    matte = derive_layers(textures.photo, textures.depth)[1]
    plate = background_plate(textures.photo, matte).astype(int)
    photo = textures.photo.astype(int)
    far = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) == 0  # away from the hole: the photo
    assert np.abs(plate[far] - photo[far]).max() == 0
    # where the subject was, the fill looks like the wall (blue-ish), not the subject (orange-ish)
    centre = plate[40:80, 56:72]
    assert (centre[..., 2] > centre[..., 0]).mean() > 0.9


def test_the_layered_mode_leaves_no_smear_where_occlusion_steps_smear():
    layered = _layered_avatar("camera.png", 192)
    path = preset_path("sway", 4, 4, eased=False)
    occlusion = score_motion(layered, ShaderParams(occlusion_steps=16), path, 192, 192)
    two_layers = score_motion(layered, ShaderParams(layered=True), path, 192, 192)
    assert occlusion.smeared_px > 10
    assert two_layers.smeared_px <= max(0.1 * occlusion.smeared_px, 5.0)  # the issue's target
    assert two_layers.split_px <= 5.0


@pytest.mark.parametrize("name", ["synthetic", "grace_hopper.jpg", "astronaut.png"])
def test_the_layered_mode_meets_the_issue_targets(name: str):
    """Split 0, clipped at most 10 % of the fixed shader's, smeared at most 10 % of the occlusion mode's (or 5 px).

    The subject is what map and photo agree on: the silhouette less what the photo clearly shows as background
    (the layered mode shows the plate there on purpose; issue 25).
    """
    if name == "synthetic":
        textures, mask = synthetic_portrait(192)
    else:
        textures = _avatar(name, 192)
        mask = subject_mask(textures.depth) & ~looks_like_background(textures.photo, textures.depth)
    layered = with_derived_layers(textures)
    path = preset_path("sway", 4, 4, eased=False)
    fixed = score_motion(layered, ShaderParams(), path, 192, 192, mask)
    occlusion = score_motion(layered, ShaderParams(occlusion_steps=16), path, 192, 192, mask)
    two_layers = score_motion(layered, ShaderParams(layered=True), path, 192, 192, mask)
    assert two_layers.split_px == 0
    assert two_layers.clipped_px <= 0.1 * fixed.clipped_px
    assert two_layers.smeared_px <= max(0.1 * occlusion.smeared_px, 5.0)


def test_the_composited_matte_stays_inside_the_silhouette_and_the_plate_hole_covers_the_soft_edge():
    textures = _avatar("grace_hopper.jpg", 160)
    silhouette = subject_mask(textures.depth)
    soft = soft_matte(textures.photo, textures.depth)
    matte = derive_layers(textures.photo, textures.depth)[1]
    background = looks_like_background(textures.photo, textures.depth)
    assert (matte[~silhouette | background] == 0).all() and (matte[silhouette & ~background] >= 128).all()
    assert (soft[~silhouette] > 128).any()  # the photo's edge reaches past the depth's: what the plate must drop
    layered = with_derived_layers(textures)
    assert layered.plate is not None
    edge = (soft > 5) & ~silhouette
    photo, plate = textures.photo[..., :3].astype(int), layered.plate[..., :3].astype(int)
    assert np.abs(photo[edge] - plate[edge]).max(axis=-1).mean() > 8  # inpainted, not the edge colours copied


def test_the_cli_exports_a_layered_png_with_the_derived_plate_and_matte(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from depthstudio.cli import main
    from tests.conftest import SAMPLE_AVATARS

    photo, depth = SAMPLE_AVATARS / "camera.png", SAMPLE_AVATARS.parent / "depth" / "camera.png"
    outs = {}
    for mode in ("false", "true"):
        outs[mode] = tmp_path / f"layered-{mode}.png"
        result = CliRunner().invoke(
            main,
            ["render", str(photo), str(depth), "-o", str(outs[mode]), "--size", "64x64", "--param",
             f"layered={mode}", "--param", "occlusionSteps=16", "--renderer", "reference"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    one, two = (np.asarray(Image.open(outs[m]).convert("RGB")).astype(int) for m in ("false", "true"))
    assert np.abs(one - two).max() > 16  # the plate shows where the single layer stretches the edge


def test_the_artifact_report_prints_one_json_record_per_subject_and_mode():
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "artifact_report.py"), "--size", "48", "--frames", "2", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    records = json.loads(out)
    assert {r["mode"] for r in records} == {"original", "fixed", "occlusion", "layered"}
    assert len(records) == 4 * len({r["subject"] for r in records}) >= 4 * 5
    assert all(set(r) == {"subject", "mode", "split", "clipped", "smeared", "edges", "texture"} for r in records)
    assert all(r["split"] >= 0 and r["clipped"] >= 0 and r["smeared"] >= 0 for r in records)
    assert all(0 <= r["edges"] <= 1 and r["texture"] >= 0 for r in records)


def test_the_matte_follows_the_photo_where_the_depth_silhouette_takes_in_background():
    textures, mask = synthetic_portrait(192)
    # A map whose silhouette reaches 6 px past the subject onto the striped wall (a blurred model edge).
    grown = cv2.dilate(textures.depth, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13)))
    wall_inside = (grown > 0) & ~mask
    matte = derive_layers(textures.photo, grown)[1]
    assert wall_inside.sum() > 2000
    assert (matte[wall_inside] >= 128).mean() < 0.4  # inside_silhouette alone keeps all of it
    assert (matte[mask] >= 128).mean() > 0.99  # the subject keeps its matte


def test_a_silhouette_of_thin_parts_only_is_left_as_the_map_says():
    # Tripod legs over a wall the photo shows through them: thinner than the edge band, so never judged
    # (and nothing is worked out for them), while a thick part taking in the same wall is.
    photo = np.full((128, 128, 3), 235, np.uint8)
    depth = np.zeros((128, 128), np.uint8)
    cv2.line(depth, (30, 10), (30, 120), 255, 3)
    cv2.line(depth, (60, 10), (90, 120), 255, 3)
    assert not looks_like_background(photo, depth).any()
    cv2.circle(photo, (100, 40), 16, (90, 60, 30), -1)  # a subject, its map's disc 6 px wider on the wall
    cv2.circle(depth, (100, 40), 22, 255, -1)
    judged = looks_like_background(photo, depth)
    yy, xx = np.mgrid[:128, :128]
    assert judged.any() and not judged[(yy - 40) ** 2 + (xx - 100) ** 2 > 23**2].any()  # the legs still are not
