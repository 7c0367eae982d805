"""The exporter writes valid PNG/GIF/WebP/MP4 files atomically; the CLI drives it and reports bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from depthstudio.cancel import CancelToken
from depthstudio.cli import main
from depthstudio.cli.render_cmd import export_avatar
from depthstudio.errors import Cancelled, ConfigError
from depthstudio.render.export import ExportOptions, ReferenceFrameRenderer, export_animation
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import prepare_textures, render
from tests.conftest import REPO, SAMPLE_AVATARS

PHOTO = SAMPLE_AVATARS / "grace_hopper.jpg"
DEPTH = SAMPLE_AVATARS.parent / "depth" / "grace_hopper.png"
SMALL = ExportOptions(frames=6, fps=12, width=48, height=40)


@pytest.fixture(scope="module")
def textures():
    return prepare_textures(Image.open(PHOTO).resize((64, 75)), Image.open(DEPTH).resize((64, 75)))


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animations_have_every_frame_and_loop(tmp_path, textures, suffix):
    out = tmp_path / f"a{suffix}"
    result = export_animation(ReferenceFrameRenderer(textures, 48, 40), ShaderParams(), out, SMALL)
    with Image.open(out) as img:
        assert img.is_animated and img.n_frames == 6
        assert img.size == (48, 40)
        assert img.info.get("loop") == 0
    assert result.frames == 6 and result.bytes == out.stat().st_size and result.renderer == "reference"


def test_mp4_is_h264_with_the_frames_asked_for(tmp_path, textures):
    out = tmp_path / "a.mp4"
    export_animation(ReferenceFrameRenderer(textures, 48, 40), ShaderParams(), out, SMALL)
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    frames = list(reader)
    assert meta["size"] == (48, 40) and meta["codec"].startswith("h264")
    assert len(frames) == 6


def test_png_still_is_the_frame_at_the_still_pointer(tmp_path, textures):
    out = tmp_path / "still.png"
    options = ExportOptions(width=48, height=40, still_pointer=(0.5, -0.5))
    export_animation(ReferenceFrameRenderer(textures, 48, 40), ShaderParams.original(), out, options)
    expected = render(textures, ShaderParams.original(), (0.5, -0.5), 48, 40)
    assert np.array_equal(np.asarray(Image.open(out)), expected)


def test_mp4_sizes_are_made_even(tmp_path):
    result = export_avatar(
        Image.open(PHOTO), np.asarray(Image.open(DEPTH)), ShaderParams(), tmp_path / "odd.mp4",
        ExportOptions(frames=2, width=31, height=23), renderer="reference",
    )  # fmt: skip
    assert next(imageio_ffmpeg.read_frames(str(result.path)))["size"] == (30, 22)


def test_a_cancelled_export_leaves_no_file(tmp_path, textures):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        export_animation(
            ReferenceFrameRenderer(textures, 48, 40), ShaderParams(), tmp_path / "a.gif", SMALL, token
        )
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_and_bad_options_are_config_errors(tmp_path, textures):
    with pytest.raises(ConfigError):
        export_animation(ReferenceFrameRenderer(textures, 8, 8), ShaderParams(), tmp_path / "a.bmp", SMALL)
    with pytest.raises(ConfigError):
        ExportOptions(frames=0)
    with pytest.raises(ConfigError):
        export_animation(
            ReferenceFrameRenderer(textures, 8, 8), ShaderParams(), tmp_path / "no" / "a.gif", SMALL
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_renders_a_gif_with_parameters(tmp_path):
    out = tmp_path / "cli.gif"
    result = CliRunner().invoke(
        main,
        ["render", str(PHOTO), str(DEPTH), "-o", str(out), "--frames", "4", "--size", "40x32",
         "--plane", "0.5", "--param", "occlusionSteps=4", "--renderer", "reference", "--preset", "figure8"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 frame(s)" in result.output and "reference renderer" in result.output
    with Image.open(out) as img:
        assert img.n_frames == 4 and img.size == (40, 32)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "plane=2"], "outside its range"),
        (["--param", "bogus=1"], "unknown shader parameter"),
        (["--size", "big"], "--size must be"),
        (["-o", "x.tiff"], "cannot export"),
    ],
)
def test_cli_reports_bad_input_in_one_sentence(tmp_path, args, message):
    base = ["render", str(PHOTO), str(DEPTH), "--renderer", "reference"]
    if "-o" not in args:
        base += ["-o", str(tmp_path / "x.gif")]
    result = CliRunner().invoke(main, base + args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_reports_a_missing_depth_map(tmp_path):
    result = CliRunner().invoke(
        main, ["render", str(PHOTO), str(tmp_path / "none.png"), "-o", str(tmp_path / "x.gif")]
    )
    assert result.exit_code == 2 and "does not exist" in result.output


def _cli_without_egl(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    """The CLI in a process where libglvnd finds no EGL vendor library: a machine without GL drivers."""
    env = {
        **os.environ,
        "__EGL_VENDOR_LIBRARY_FILENAMES": str(tmp_path / "none.json"),
        "PYTHONPATH": str(REPO),
    }
    args = ["render", str(PHOTO), str(DEPTH), "-o", str(tmp_path / "x.webp"), "--frames", "2", "--size", "32"]
    return subprocess.run(
        [sys.executable, "-m", "depthstudio", *args, *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_auto_falls_back_to_the_reference_without_gl_and_gl_fails_clearly(tmp_path):
    auto = _cli_without_egl(tmp_path)
    assert auto.returncode == 0, auto.stderr
    assert "reference renderer" in auto.stdout and "no GL context" in auto.stderr
    forced = _cli_without_egl(tmp_path, "--renderer", "gl")
    assert forced.returncode == 2
    assert "no OpenGL context could be created" in forced.stderr and "Traceback" not in forced.stderr
