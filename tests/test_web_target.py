"""[web] target and display_crop: the studio's renders and the web export give what the portal draws (issue 23).

What each component reads is checked against the real component in tests/test_real_component.py (its cases use
``Target.drawn``); here the settings, the props and the crop.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthstudio.config import DISPLAY_CROPS, WEB_TARGETS, load_config
from depthstudio.errors import ConfigError
from depthstudio.imaging.crop import CropBox, display_crop_box, through_display_crop
from depthstudio.portal.repository import Portal
from depthstudio.render.params import PARAM_SPECS, ShaderParams
from depthstudio.render.target import TARGETS, target
from depthstudio.render.web_export import export_web, render_inputs
from tests.conftest import SAMPLE_AVATARS
from tests.helpers import make_portal, portal_config
from tests.test_web_export import _add_result, _png_of

DEPTHS = SAMPLE_AVATARS.parent / "depth"
TUNED = ShaderParams(horizontal_threshold=20, vertical_threshold=30, multiplier=3.0, plane=0.2, occlusion_steps=4)


def test_the_targets_are_the_settings_choices():
    assert set(TARGETS) == set(WEB_TARGETS)
    assert DISPLAY_CROPS == ("none", "square")


def test_an_unknown_target_in_the_config_file_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('[web]\ntarget = "react-three-fiber"\n')
    with pytest.raises(ConfigError, match=r"web\.target = 'react-three-fiber' is not one of"):
        load_config(path, environ={})
    path.write_text('[web]\ntarget = "react-depth-map"\ndisplay_crop = "square"\n')
    web = load_config(path, environ={}).web
    assert (web.target, web.display_crop) == ("react-depth-map", "square")


def test_react_depth_map_draws_plane_05_and_ignores_the_multiplier_and_our_modes():
    drawn = target("react-depth-map").drawn(TUNED)
    assert drawn == ShaderParams(horizontal_threshold=20, vertical_threshold=30, plane=0.5)
    assert target("react-depth-map-fork").drawn(TUNED) == ShaderParams(
        horizontal_threshold=20, vertical_threshold=30, plane=0.05
    )
    assert target("depthstudio").drawn(TUNED) == TUNED


def test_each_ignored_parameter_says_why():
    ignored = target("react-depth-map").ignored()
    assert set(ignored) == {s.name for s in PARAM_SPECS} - {
        "horizontal_threshold",
        "vertical_threshold",
        "reverse_motion",
        "respond_to",
    }
    assert "never reads multiplier" in ignored["multiplier"]
    assert "fixed plane of 0.5" in ignored["plane"]
    assert "fixed plane of 0.05" in target("react-depth-map-fork").ignored()["plane"]
    assert target("depthstudio").ignored() == {}


def test_a_component_targets_props_are_the_images_and_what_it_reads():
    props = target("react-depth-map-fork").props(TUNED, "https://cdn/a.jpg", "https://cdn/a-depth.png")
    assert props == {
        "originalImg": "https://cdn/a.jpg",
        "depthImg": "https://cdn/a-depth.png",
        "horizontalThreshold": 20.0,
        "verticalThreshold": 30.0,
        "reverseMotion": False,
        "respondTo": "mouseMove",
    }
    ours = target("depthstudio").props(TUNED, "a.jpg", None)
    assert ours == {"originalImg": "a.jpg", **TUNED.web_props()}


def test_the_square_display_crop_is_centred_like_cloudinarys_fill():
    assert display_crop_box(451, 300, "square") == CropBox(75, 0, 375, 300)
    assert display_crop_box(512, 600, "square") == CropBox(0, 44, 512, 556)
    assert display_crop_box(451, 300, "none") == CropBox(0, 0, 451, 300)
    # a map of another resolution is cut at the same place, as one URL transformation cuts both
    depth = Image.new("L", (902, 600))
    assert through_display_crop(depth, (451, 300), "square").size == (600, 600)


@pytest.fixture
def portal(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    url = (SAMPLE_AVATARS / "chelsea.png").as_uri()
    make_portal(db, [url], names=["Chelsea"])
    cfg = portal_config(db, tmp_path)
    cfg.web.target, cfg.web.display_crop = "react-depth-map", "square"
    p = Portal.open(cfg)
    _add_result(p, "u00000", url, _png_of(DEPTHS / "chelsea.png"), (451, 300))
    p.set_setting("shader_defaults", TUNED.overrides(), by="test")
    yield p
    p.close()


def test_export_web_gives_the_targets_props_and_images_through_the_display_crop(portal: Portal, tmp_path: Path):
    summary = export_web(portal, None, tmp_path / "web")
    assert summary.ids("depth") == ["u00000"]
    folder = tmp_path / "web" / "users" / "u00000"
    props = json.loads((folder / "params.json").read_text())
    assert props == target("react-depth-map").props(TUNED, "photo.png", "depth.png")
    with Image.open(folder / "photo.png") as p, Image.open(SAMPLE_AVATARS / "chelsea.png") as o:
        assert np.array_equal(np.asarray(p), np.asarray(o.convert("RGB"))[:, 75:375])
    with Image.open(folder / "depth.png") as d, Image.open(DEPTHS / "chelsea.png") as o:
        assert np.array_equal(np.asarray(d), np.asarray(o.convert("L"))[:, 75:375])
    page = (tmp_path / "web" / "index.html").read_text()
    assert '"clippingPlane":0.5,' in page  # the standalone page draws what react-depth-map draws


def test_renders_use_what_the_target_draws_through_the_display_crop(portal: Portal):
    inputs = render_inputs(portal, "u00000")
    assert inputs.params == target("react-depth-map").drawn(TUNED)
    assert inputs.photo.size == inputs.depth.size == (300, 300)
