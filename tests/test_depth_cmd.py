"""``depthstudio depth``: one photo through the synthetic and the local backend, via the click command."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import depthstudio.imaging
from depthstudio.cli import EXIT_FATAL, main
from depthstudio.depth.postprocess import decode_png
from tests.conftest import SAMPLE_AVATARS

pytestmark = pytest.mark.skipif(
    not hasattr(depthstudio.imaging, "load_avatar"),
    reason="depthstudio.imaging.load_avatar arrives with the imaging issue",
)

PHOTO = str(SAMPLE_AVATARS / "grace_hopper.jpg")


def test_synthetic_backend_writes_both_pngs_and_reports_no_flags(tmp_path):
    out, out16 = tmp_path / "d.png", tmp_path / "d16.png"
    result = CliRunner().invoke(main, ["depth", PHOTO, "-o", str(out), "--backend", "synthetic", "--16bit", str(out16)])
    assert result.exit_code == 0, result.output
    assert "no flags" in result.output
    depth8, depth16 = decode_png(out.read_bytes()), decode_png(out16.read_bytes())
    width, height = Image.open(PHOTO).size  # 512x600: the map covers the whole photo at its aspect (issue 23)
    assert depth8.shape == depth16.shape == (512, round(512 * width / height))
    assert np.abs(depth8 - depth16).max() <= 1 / 255
    assert depth8.min() == 0.0 and depth8.max() == 1.0


def test_postprocess_options_change_the_map(tmp_path):
    plain, inverted = tmp_path / "plain.png", tmp_path / "inv.png"
    runner = CliRunner()
    assert runner.invoke(main, ["depth", PHOTO, "-o", str(plain), "--backend", "synthetic"]).exit_code == 0
    result = runner.invoke(
        main, ["depth", PHOTO, "-o", str(inverted), "--backend", "synthetic", "--postprocess", "invert=true"]
    )
    assert result.exit_code == 0, result.output
    assert "FLAGGED inverted" in result.output
    np.testing.assert_allclose(decode_png(inverted.read_bytes()), 1 - decode_png(plain.read_bytes()), atol=1 / 255)


def test_local_backend_runs_a_saved_random_model_and_flags_its_empty_output(tmp_path):
    from depthstudio.depth.torch_backend import DA_V2_SMALL, LocalBackend

    weights = tmp_path / "weights"
    LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True).save_pretrained(weights)
    out = tmp_path / "d.png"
    args = ["depth", PHOTO, "-o", str(out), "--backend", "local", "--model", DA_V2_SMALL]
    args += ["--weights-dir", str(weights), "--device", "cpu", "--dtype", "float32"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"local/{DA_V2_SMALL}" in result.output
    assert "FLAGGED empty" in result.output  # untrained weights: ~1e-7 output, kept black instead of amplified
    assert not decode_png(out.read_bytes()).any()


def test_missing_weights_fail_with_instructions_and_write_nothing(tmp_path):
    out = tmp_path / "d.png"
    args = ["depth", PHOTO, "-o", str(out), "--backend", "local", "--weights-dir", str(tmp_path / "none")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == EXIT_FATAL
    assert "depth.local_weights" in result.output and "REPLICATE_API_TOKEN" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_bad_postprocess_option_is_a_clear_error(tmp_path):
    args = [
        "depth",
        PHOTO,
        "-o",
        str(tmp_path / "d.png"),
        "--backend",
        "synthetic",
        "--postprocess",
        "blur=3",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == EXIT_FATAL
    assert "unknown postprocess option 'blur'" in result.output
