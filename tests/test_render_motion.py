"""The motion model reproduces the web component's pointer mapping and easing; presets loop seamlessly."""

from __future__ import annotations

import numpy as np
import pytest

from depthstudio.errors import ConfigError
from depthstudio.render.motion import EASING, EasedPointer, auto_orbit_target, pointer_target, preset_path


def test_pointer_maps_to_minus_one_one_with_the_webs_sign():
    assert pointer_target(0, 0, 200, 100) == (1.0, 1.0)  # top-left corner -> +1, +1 (picture moves away)
    assert pointer_target(200, 100, 200, 100) == (-1.0, -1.0)
    assert pointer_target(100, 50, 200, 100) == (0.0, 0.0)
    assert pointer_target(150, 25, 200, 100, reverse_motion=True) == (0.5, -0.5)


def test_easing_closes_five_percent_of_the_gap_per_frame():
    pointer = EasedPointer()
    pointer.set_target((1.0, -0.5))
    for _ in range(10):
        pointer.tick()
    expected = 1.0 - (1.0 - EASING) ** 10
    assert pointer.mouse == pytest.approx((expected, -0.5 * expected))


@pytest.mark.parametrize("preset", ["sway", "circle", "figure8"])
def test_presets_loop_without_a_jump(preset):
    frames, fps = 40, 20.0
    path = preset_path(preset, frames, fps)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    wrap = np.linalg.norm(path[0] - path[-1])
    assert wrap <= steps.max() * 1.05  # the last frame leads back into the first like any other step
    assert np.abs(path).max() <= 1.0


def test_unbased_presets_follow_their_shapes():
    sway = preset_path("sway", 8, 8, eased=False)
    assert np.allclose(sway[:, 1], 0.0) and sway[2, 0] == pytest.approx(1.0)
    circle = preset_path("circle", 16, 16, eased=False, amplitude=0.5)
    assert np.allclose(np.linalg.norm(circle, axis=1), 0.5)
    assert np.allclose(preset_path("sway", 8, 8, eased=False, reverse_motion=True), -sway)


def test_easing_lags_and_shrinks_a_fast_loop_like_the_web():
    fast = preset_path("sway", 12, 24)  # a half-second sway: the 0.05 easing cannot keep up
    assert 0.1 < np.abs(fast[:, 0]).max() < 0.6


def test_auto_orbit_circles_at_its_amplitude():
    assert np.hypot(*auto_orbit_target(1.234, amplitude=0.4)) == pytest.approx(0.4)


def test_bad_presets_are_config_errors():
    with pytest.raises(ConfigError):
        preset_path("zigzag", 10)
    with pytest.raises(ConfigError):
        preset_path("sway", 0)
