"""Shader parameter layers have one owner: the studio's panel and the web export store and combine them alike."""

from __future__ import annotations

import pytest

from depthstudio.errors import ConfigError
from depthstudio.portal.repository import Portal
from depthstudio.render import param_layers as layers
from depthstudio.render.params import SPECS_BY_NAME, ShaderParams
from tests.helpers import make_portal, portal_config


@pytest.fixture
def portal(db_url, tmp_path):
    make_portal(db_url, ["https://img.example/a.png", "https://img.example/b.png"])
    p = Portal.open(portal_config(db_url, tmp_path))
    yield p
    p.close()


def _studio_view(portal: Portal, user_id: str) -> ShaderParams:
    """What the panel shows: the two stored layers as it reads them, combined."""
    return layers.effective(layers.read_defaults_layer(portal), layers.read_user_layer(portal, user_id))


def test_the_web_gets_what_the_studio_shows_in_range_and_clamped(portal):
    layers.write_defaults_layer(portal, {"plane": 1.5, "multiplier": 2.0}, by="test")
    layers.write_user_layers(portal, ["u00001"], {"horizontal_threshold": 500, "multiplier": 3.0}, by="test")
    defaults = layers.global_defaults(portal)
    for uid in ("u00000", "u00001"):
        assert layers.user_params(portal, defaults, uid) == _studio_view(portal, uid)
    web = layers.user_params(portal, defaults, "u00001")
    assert web.plane == SPECS_BY_NAME["plane"].maximum and web.multiplier == 3.0
    assert web.horizontal_threshold == SPECS_BY_NAME["horizontal_threshold"].maximum
    assert layers.user_params(portal, defaults, "u00000").multiplier == 2.0


def test_the_global_layer_lives_in_one_setting(portal):
    layers.write_defaults_layer(portal, {"multiplier": 2.5}, by="test")
    assert portal.get_setting(layers.DEFAULTS_SETTING) == {"multiplier": 2.5}
    assert layers.global_defaults(portal).multiplier == 2.5
    layers.write_user_layers(portal, ["u00000"], {}, by="test")  # empty: follow the global layer
    assert layers.read_user_layer(portal, "u00000") == {}


def test_a_stored_layer_that_is_not_an_object_or_names_an_unknown_parameter_is_refused(portal):
    portal.set_setting(layers.DEFAULTS_SETTING, [1, 2], by="test")
    with pytest.raises(ConfigError, match=r"JSON object.*fix them in the studio"):
        layers.global_defaults(portal)
    layers.write_user_layers(portal, ["u00000"], {"planee": 0.1}, by="test")
    with pytest.raises(ConfigError, match="planee"):
        layers.user_params(portal, ShaderParams(), "u00000")
    with pytest.raises(ConfigError, match="planee"):
        layers.effective({}, layers.read_user_layer(portal, "u00000"))
