"""The numpy reference against analytic cases and a literal, per-pixel transcription of the web shader."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depthstudio.errors import ImagingError
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import (
    aspect_fit,
    mirrored,
    prepare_textures,
    render,
    render_float,
    sample_linear,
)

RNG = np.random.default_rng(20261126)


def _photo(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- a literal transcription of react-depth-map's fragment shader, one pixel at a time, in float64 ----------
# GLSL: vec2 uv = pixelRatio*gl_FragCoord.xy / resolution.xy;
#       vec2 vUv = (uv - vec2(0.5))*resolution.zw + vec2(0.5);  vUv.y = 1. - vUv.y;
#       vec4 tex1 = texture2D(image1, mirrored(vUv));
#       vec2 fake3d = vec2(vUv.x + (tex1.r - PLANE)*mouse.x/threshold.x,
#                          vUv.y + (tex1.r - PLANE)*mouse.y/threshold.y);
#       gl_FragColor = texture2D(image0, mirrored(fake3d));
# and Sketch.js: a1/a2 from the image aspect; threshold = (horizontal, vertical) threshold * multiplier.


def _glsl_mod(x: float, y: float) -> float:
    return x - y * math.floor(x / y)


def _web_mirrored(v: float) -> float:
    m = _glsl_mod(v, 2.0)
    return 2.0 - m if m >= 1.0 else m


def _texture2d(img: np.ndarray, s: float, t: float) -> np.ndarray:
    """GL_LINEAR, CLAMP_TO_EDGE, texel centres at (i + 0.5) / size; texels are bytes / 255."""
    h, w = img.shape[:2]
    x, y = s * w - 0.5, t * h - 0.5
    i, j = math.floor(x), math.floor(y)
    a, b = x - i, y - j

    def texel(col: int, row: int) -> np.ndarray:
        return img[min(max(row, 0), h - 1), min(max(col, 0), w - 1)].astype(np.float64) / 255.0

    return (
        (1 - a) * (1 - b) * texel(i, j)
        + a * (1 - b) * texel(i + 1, j)
        + (1 - a) * b * texel(i, j + 1)
        + (a * b * texel(i + 1, j + 1))
    )


def web_shader(photo, depth, width, height, mouse, hth=35.0, vth=35.0, multiplier=1.0, plane=0.05):
    image_aspect = photo.shape[0] / photo.shape[1]
    if height / width < image_aspect:
        a1, a2 = 1.0, (height / width) / image_aspect
    else:
        a1, a2 = (width / height) * image_aspect, 1.0
    threshold = (hth * multiplier, vth * multiplier)
    out = np.zeros((height, width, photo.shape[2]))
    for row in range(height):
        for col in range(width):
            frag_x, frag_y = col + 0.5, (height - 1 - row) + 0.5
            uv = (frag_x / width, frag_y / height)
            vuv_x = (uv[0] - 0.5) * a1 + 0.5
            vuv_y = 1.0 - ((uv[1] - 0.5) * a2 + 0.5)
            r = float(_texture2d(depth, _web_mirrored(vuv_x), _web_mirrored(vuv_y))[0])
            fake_x = vuv_x + (r - plane) * mouse[0] / threshold[0]
            fake_y = vuv_y + (r - plane) * mouse[1] / threshold[1]
            out[row, col] = _texture2d(photo, _web_mirrored(fake_x), _web_mirrored(fake_y))
    return out


def _smooth_depth(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(1.2 - np.hypot((xx - w / 2) / (w / 3), (yy - h / 2) / (h / 3)), 0, 1)


@pytest.mark.parametrize(
    ("params", "plane"),
    [(ShaderParams(), 0.05), (ShaderParams.original(), 0.5)],
    ids=["fixed-default", "original"],
)
@pytest.mark.parametrize(("out_w", "out_h"), [(24, 24), (30, 18), (16, 26)])
def test_reference_is_the_web_shader(params, plane, out_w, out_h):
    photo = _photo(13, 17)
    textures = prepare_textures(photo, _smooth_depth(11, 15))
    mouse = (0.83, -0.61)
    ours = render_float(textures, params, mouse, out_w, out_h)
    web = web_shader(textures.photo, textures.depth[..., None], out_w, out_h, mouse, plane=plane)
    assert np.abs(ours - web).max() < 1e-4


def test_the_original_and_the_fix_differ_where_the_depth_is_mid_range():
    textures = prepare_textures(_photo(32, 32), _smooth_depth(32, 32))
    fixed = render(textures, ShaderParams(), (1.0, 0.0), 32, 32)
    original = render(textures, ShaderParams.original(), (1.0, 0.0), 32, 32)
    assert np.abs(fixed.astype(int) - original.astype(int)).max() > 50


def test_no_pointer_offset_reproduces_the_photo_texel_for_texel():
    photo = _photo(20, 30)
    textures = prepare_textures(photo, RNG.random((20, 30)))
    for params in (ShaderParams(), ShaderParams(occlusion_steps=6, plane=0.4)):
        assert np.array_equal(render(textures, params, (0.0, 0.0), 30, 20), photo)


def test_constant_depth_shifts_the_photo_by_whole_texels_and_mirrors_at_the_edge():
    w, h, shift = 40, 10, 4
    photo = _photo(h, w)
    depth = np.full((h, w), 255, np.uint8)  # d = 1: displacement (1 - 0.05) * mouse / 35 in uv
    mouse_x = shift / w * 35.0 / 0.95
    out = render(prepare_textures(photo, depth), ShaderParams(), (mouse_x, 0.0), w, h)
    assert np.array_equal(out[:, : w - shift], photo[:, shift:])
    assert np.array_equal(out[:, w - shift :], photo[:, ::-1][:, :shift])  # mirrored repeat past u = 1


def test_vertical_pointer_moves_along_image_rows():
    h, w, shift = 30, 8, 3
    photo = _photo(h, w)
    depth = np.full((h, w), 255, np.uint8)
    mouse_y = shift / h * 35.0 / 0.95
    out = render(prepare_textures(photo, depth), ShaderParams(), (0.0, mouse_y), w, h)
    # vUv.y grows downwards in the image, so a positive mouse.y samples rows further down.
    assert np.array_equal(out[: h - shift], photo[shift:])


def test_occlusion_search_on_a_flat_depth_lands_where_the_web_shader_does():
    photo = _photo(24, 24)
    textures = prepare_textures(photo, np.full((24, 24), 0.6))
    web = render_float(textures, ShaderParams(), (0.7, -0.4), 24, 24)
    searched = render_float(textures, ShaderParams(occlusion_steps=7), (0.7, -0.4), 24, 24)
    assert np.abs(web - searched).max() < 2e-3


def test_counter_motion_zero_holds_everything_behind_the_plane_still():
    photo = _photo(16, 16)
    textures = prepare_textures(photo, np.zeros((16, 16)))  # all background, behind plane 0.05
    moved = render(textures, ShaderParams(), (1.0, 1.0), 16, 16)
    still = render(textures, ShaderParams(counter_motion=0.0), (1.0, 1.0), 16, 16)
    assert not np.array_equal(moved, photo)
    assert np.array_equal(still, photo)


def test_mirrored_matches_glsl_mod_based_definition():
    v = np.array([-2.25, -1.0, -0.25, 0.0, 0.3, 1.0, 1.25, 2.0, 2.5, 3.75], dtype=np.float32)
    expected = [_web_mirrored(float(x)) for x in v]
    assert np.allclose(mirrored(v), expected)


def test_linear_sampling_uses_texel_centres_and_clamps_to_the_edge():
    tex = np.array([[0.0, 1.0, 3.0]], dtype=np.float32)
    u = np.array([0.0, 1 / 6, 1 / 3, 0.5, 5 / 6, 1.0], dtype=np.float32)
    got = sample_linear(tex, u, np.full_like(u, 0.5))
    assert np.allclose(got, [0.0, 0.0, 0.5, 1.0, 3.0, 3.0])


def test_aspect_fit_covers_the_output_like_the_web_component():
    assert aspect_fit(100, 100, 200, 100) == (0.5, 1.0)  # landscape photo in a square: crop the sides
    assert aspect_fit(100, 100, 100, 200) == (1.0, 0.5)  # portrait photo: crop top and bottom
    assert aspect_fit(300, 150, 200, 100) == (1.0, 1.0)


def test_bad_inputs_are_imaging_errors():
    with pytest.raises(ImagingError):
        prepare_textures(np.zeros((4, 4), np.uint8), np.zeros((4, 4)))
    with pytest.raises(ImagingError):
        prepare_textures(_photo(4, 4), np.zeros((4, 4, 3)))
    with pytest.raises(ImagingError):
        prepare_textures(_photo(4, 4), np.full((4, 4), np.nan))
