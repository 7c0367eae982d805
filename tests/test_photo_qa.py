"""Photo QA: photos that cannot make a good avatar fail before any backend call; the others add their risk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from depthstudio.depth.photo_qa import PHOTO_CHECKS, assess_photo
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.imaging import load_avatar
from depthstudio.jobs.failures import failure_groups
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.portal.repository import Portal, Query
from tests.helpers import make_portal, portal_config, write_avatars


def _photo(folder: Path, name: str, size: tuple[int, int], *, flat: bool = False, seed: int = 0) -> str:
    """A textured photo (noise over a gradient), or one flat grey."""
    w, h = size
    if flat:
        pixels = np.full((h, w, 3), 128, np.uint8)
    else:
        rng = np.random.default_rng(seed)
        ramp = np.linspace(40, 200, w, dtype=np.float32)[None, :, None]
        pixels = np.clip(ramp + rng.normal(0, 30, (h, w, 3)), 0, 255).astype(np.uint8)
    path = folder / name
    Image.fromarray(pixels).save(path)
    return path.as_uri()


def test_unsuitable_photos_fail_before_the_backend_with_what_to_do(db_url, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    avatars = [
        _photo(folder, "tiny.png", (20, 20)),
        _photo(folder, "banner.png", (400, 80)),
        _photo(folder, "blank.png", (200, 200), flat=True),
        _photo(folder, "fine.png", (120, 140)),
    ]
    make_portal(db_url, avatars)
    cfg = portal_config(db_url, tmp_path)
    portal = Portal.open(cfg)
    backend = SyntheticBackend()

    summary = GenerateMissingJob(portal, backend, None, cfg).run()

    assert summary.progress.outcomes == {"generated": 1, "failed": 3}
    assert backend.calls == 1  # only the suitable photo reached the backend
    messages = {f.user_id: f.message for f in summary.failures}
    assert "only 20 px on its short side" in messages["u00000"]
    assert "5.0 times as long as it is wide" in messages["u00001"]
    assert "nearly one flat colour" in messages["u00002"]
    assert all("ask the user to upload a larger, ordinary portrait photo" in m for m in messages.values())
    (group,) = failure_groups(portal)
    assert group.explanation.title == "The photo cannot make a good 3D avatar" and not group.explanation.transient
    assert portal.get_user("u00003").status == "generated"


def test_a_borderline_photo_adds_its_risk_to_the_result_and_sorts_first(db_url, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    make_portal(db_url, [_photo(folder, "square.png", (128, 128)), _photo(folder, "long.png", (250, 100), seed=1)])
    cfg = portal_config(db_url, tmp_path)
    portal = Portal.open(cfg)
    assert GenerateMissingJob(portal, SyntheticBackend(), None, cfg).run().ok

    square, long = portal.get_user("u00000"), portal.get_user("u00001")
    assert set(PHOTO_CHECKS) <= set(long.qa["checks"])
    assert long.qa["checks"]["photo_aspect"]["score"] > 0.0 and long.qa_risk > square.qa_risk
    assert portal.list_users(Query(sort="risk"))[0].id == "u00001"


def test_ordinary_test_portraits_pass(tmp_path):
    for url in write_avatars(tmp_path, 3, size=48):
        report = assess_photo(load_avatar(url, portal_config("sqlite://", tmp_path).fetch.policy()), 64)
        assert report.flags == [] and report.risk == 0.0
