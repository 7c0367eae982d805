"""Portrait postprocessing: each option on synthetic maps where the right answer is known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.postprocess import (
    PostprocessOptions,
    apply_options,
    decode_png,
    dilate,
    encode_png,
    guided_filter,
    make_depth_map,
    normalise,
)
from depthstudio.depth.synthetic import portrait_prior
from depthstudio.errors import ConfigError
from tests.avatars import avatar_from_image

SIDE = 96


def _avatar(gray: np.ndarray | None = None):
    if gray is None:
        gray = np.full((SIDE, SIDE), 0.5, dtype=np.float32)
    rgb = np.repeat((gray * 255).astype(np.uint8)[..., None], 3, axis=2)
    return avatar_from_image(Image.fromarray(rgb), crop_size=gray.shape[0])


def _prediction(d: np.ndarray) -> DepthPrediction:
    return DepthPrediction(disparity=d.astype(np.float32), frame="crop", backend="test", model="test")


def _disk(radius: float) -> np.ndarray:
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    return ((x - SIDE / 2) ** 2 + (y - SIDE / 2) ** 2 <= radius**2).astype(np.float32)


def test_default_options_are_plain_min_max_normalisation():
    d = portrait_prior(np.zeros((SIDE, SIDE), np.float32)) * 7.0 + 3.0
    result = make_depth_map(_prediction(d), _avatar())
    expected = (d - d.min()) / (d.max() - d.min())
    np.testing.assert_allclose(result.depth, expected, atol=1e-6)
    assert result.options == PostprocessOptions().to_dict()
    assert result.qa["flags"] == []


def test_percentile_normalisation_ignores_a_stray_spike():
    ramp = np.tile(np.linspace(0.0, 1.0, SIDE, dtype=np.float32), (SIDE, 1))
    spiked = ramp.copy()
    spiked[3, 3] = 50.0
    plain = normalise(spiked)
    clipped = normalise(spiked, percentile=1.0)
    assert np.percentile(plain, 95) - np.percentile(plain, 5) < 0.05
    assert np.percentile(clipped, 95) - np.percentile(clipped, 5) > 0.85
    assert clipped.min() == 0.0 and clipped.max() == 1.0


def test_near_zero_or_bias_only_output_stays_empty_instead_of_amplified_noise():
    rng = np.random.default_rng(1)
    assert not normalise(rng.normal(0, 1e-8, (SIDE, SIDE))).any()
    assert not normalise(1000.0 + rng.normal(0, 1e-4, (SIDE, SIDE))).any()
    assert normalise(1000.0 + rng.normal(0, 1.0, (SIDE, SIDE))).std() > 0.1


def test_dilation_grows_the_foreground_by_exactly_n_pixels():
    disk = _disk(20)
    grown = dilate(disk, 3)
    rows = np.flatnonzero(disk.any(axis=1))
    grown_rows = np.flatnonzero(grown.any(axis=1))
    assert grown_rows[0] == rows[0] - 3 and grown_rows[-1] == rows[-1] + 3
    assert np.all(grown >= disk)
    assert dilate(disk, 0) is disk


def test_guided_smoothing_removes_noise_but_keeps_the_photo_edge():
    step = np.zeros((SIDE, SIDE), np.float32)
    step[:, SIDE // 2 :] = 1.0
    noisy = step + np.random.default_rng(2).normal(0, 0.05, step.shape).astype(np.float32)
    out = guided_filter(noisy, step, radius=4, eps=1e-3)
    flat = np.s_[:, 5 : SIDE // 2 - 6]
    assert out[flat].std() < noisy[flat].std() / 3
    edge_jump = out[:, SIDE // 2].mean() - out[:, SIDE // 2 - 1].mean()
    assert edge_jump > 0.9
    box = guided_filter(noisy, np.zeros_like(step), radius=4, eps=1e-3)  # constant guide = box blur
    assert box[:, SIDE // 2].mean() - box[:, SIDE // 2 - 1].mean() < 0.3


def test_smoothing_option_uses_the_avatar_photo_as_guide():
    gray = np.zeros((SIDE, SIDE), np.float32)
    gray[:, SIDE // 2 :] = 1.0
    depth = gray + np.random.default_rng(3).normal(0, 0.05, gray.shape).astype(np.float32)
    opts = PostprocessOptions(smooth_radius=4)
    out = apply_options(depth, _avatar(gray), opts)
    assert out[:, 5:40].std() < apply_options(depth, _avatar(gray), PostprocessOptions())[:, 5:40].std() / 3


def test_invert_turns_a_depth_output_into_disparity():
    d = portrait_prior(np.zeros((SIDE, SIDE), np.float32))
    out = apply_options(d, _avatar(), PostprocessOptions(invert=True))
    np.testing.assert_allclose(out, 1.0 - normalise(d), atol=1e-6)


def test_options_round_trip_through_json_and_parse_cli_strings():
    opts = PostprocessOptions.parse(["percentile=2", "dilate_px=3", "invert=yes"], base={"smooth_radius": 8})
    assert opts == PostprocessOptions(percentile=2.0, dilate_px=3, smooth_radius=8, invert=True)
    assert PostprocessOptions.from_dict(json.loads(json.dumps(opts.to_dict()))) == opts
    assert PostprocessOptions.from_dict(None) == PostprocessOptions()


@pytest.mark.parametrize(
    "pairs",
    [["colour=red"], ["dilate_px=two"], ["invert=maybe"], ["percentile=60"], ["dilate_px=-1"], ["dilate_px"]],
)
def test_bad_options_are_config_errors(pairs):
    with pytest.raises(ConfigError):
        PostprocessOptions.parse(pairs)


def test_pngs_round_trip_at_8_and_16_bits():
    d = np.linspace(0, 1, SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)
    assert np.abs(decode_png(encode_png(d, 16)) - d).max() < 1e-4
    assert np.abs(decode_png(encode_png(d, 8)) - d).max() < 1 / 255


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dilate_px": "two"}, "postprocess option dilate_px='two' is not an integer"),
        ({"invert": "maybe"}, "postprocess option invert='maybe' is not a boolean"),
        ({"invert": 1}, "postprocess option invert must be of type bool, not int"),
    ],
)
def test_bad_option_values_name_the_option_like_the_config_does(data, message):
    with pytest.raises(ConfigError, match=message):
        PostprocessOptions.from_dict(data)
