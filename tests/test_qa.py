"""Depth QA flags: synthetic maps that must and must not trigger each check, and the real sample portraits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.postprocess import make_depth_map
from depthstudio.depth.qa import CHECKS, QAReport, assess
from depthstudio.depth.synthetic import SyntheticBackend, portrait_prior
from tests.avatars import avatar_from_file, avatar_from_image
from tests.conftest import SAMPLE_AVATARS

SIDE = 128


@pytest.fixture(scope="module")
def avatar():
    rng = np.random.default_rng(0)
    return avatar_from_image(Image.fromarray(rng.integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8)), crop_size=SIDE)


def _good_map() -> np.ndarray:
    d = portrait_prior(np.zeros((SIDE, SIDE), np.float32))
    return (d - d.min()) / (d.max() - d.min())


def _pred(shape: tuple[int, int], frame: str = "crop") -> DepthPrediction:
    return DepthPrediction(np.zeros(shape, np.float32), frame, "test", "test")  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted(p for p in SAMPLE_AVATARS.iterdir() if p.suffix in (".png", ".jpg")))
def test_sample_portraits_with_the_synthetic_backend_are_not_flagged(path):
    avatar = avatar_from_file(path)
    result = make_depth_map(SyntheticBackend().predict(avatar), avatar)
    assert result.qa["flags"] == []
    assert result.qa["risk"] < 0.1


def test_a_good_portrait_map_triggers_nothing(avatar):
    report = assess(_good_map(), avatar, _pred((SIDE, SIDE)))
    assert report.flags == []
    assert all(c.score == 0.0 for c in report.checks.values())


def test_a_constant_map_is_empty(avatar):
    report = assess(np.zeros((SIDE, SIDE), np.float32), avatar)
    assert "empty" in report.flags
    assert report.checks["empty"].score == 1.0
    assert report.risk == 1.0


def test_a_map_with_a_small_subject_on_a_flat_background_is_not_empty(avatar):
    d = np.zeros((SIDE, SIDE), np.float32)
    d[40:90, 40:90] = 1.0  # 15% of the frame
    assert not assess(d, avatar).checks["empty"].flagged


def test_a_stray_bright_pixel_over_a_low_contrast_map_is_flat_but_not_empty(avatar):
    d = 0.1 * _good_map()
    d[2, 2] = 1.0
    report = assess(d, avatar)
    assert "flat" in report.flags
    assert "empty" not in report.flags


def test_an_inverted_portrait_is_flagged_and_the_right_way_round_is_not(avatar):
    assert "inverted" in assess(1.0 - _good_map(), avatar).flags
    assert not assess(_good_map(), avatar).checks["inverted"].flagged


def test_near_shoulders_at_the_bottom_edge_do_not_count_as_inverted(avatar):
    d = _good_map()
    d[-SIDE // 4 :, :] = 1.0  # the torso filling the bottom quarter, nearer than the face
    assert not assess(d, avatar).checks["inverted"].flagged


def test_a_map_of_the_wrong_aspect_is_a_mismatch(avatar):
    assert "mismatch" in assess(_good_map(), avatar, _pred((SIDE, 2 * SIDE))).flags
    assert not assess(_good_map(), avatar, _pred((SIDE // 2, SIDE // 2))).checks["mismatch"].flagged


def test_an_original_frame_map_is_checked_against_the_original_aspect():
    avatar = avatar_from_image(Image.new("RGB", (300, 200), "grey"), crop_size=SIDE)
    assert not assess(_good_map(), avatar, _pred((384, 576), "original")).checks["mismatch"].flagged
    assert "mismatch" in assess(_good_map(), avatar, _pred((384, 384), "original")).flags


def test_a_stored_map_of_the_wrong_size_is_a_certain_mismatch(avatar):
    check = assess(np.zeros((SIDE, SIDE // 2), np.float32), avatar).checks["mismatch"]
    assert check.score == 1.0


def test_reports_are_json_and_sort_the_review_queue_by_risk(avatar):
    good = assess(_good_map(), avatar, _pred((SIDE, SIDE))).to_dict()
    flat = assess(0.5 + 0.05 * _good_map(), avatar).to_dict()
    empty = assess(np.zeros((SIDE, SIDE), np.float32), avatar).to_dict()
    stored = [json.loads(json.dumps(r)) for r in (good, empty, flat)]
    assert set(stored[0]["checks"]) == set(CHECKS)
    ranked = sorted(stored, key=lambda r: r["risk"], reverse=True)  # the listing's "risk" sort, on qa_risk
    assert ranked[-1] == good
    wrong = assess(np.zeros((SIDE, 1), np.float32), avatar).to_dict()
    assert QAReport.from_dict(json.loads(json.dumps(wrong))).to_dict() == wrong
