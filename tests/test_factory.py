"""Backend by name: the configuration's choice, the CLI's override, and clear errors for the rest."""

from __future__ import annotations

import pytest

from depthstudio.config import Config
from depthstudio.depth.factory import make_backend
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.errors import BackendError, ConfigError


def test_the_configured_backend_is_built_and_a_name_overrides_it():
    config = Config()
    config.depth.backend = "synthetic"
    assert isinstance(make_backend(config), SyntheticBackend)
    config.depth.backend = "replicate"
    assert isinstance(make_backend(config, "synthetic"), SyntheticBackend)


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(ConfigError, match="replicate, local, synthetic"):
        make_backend(Config(), "magic")


def test_local_without_weights_is_a_no_weights_error(tmp_path):
    config = Config()
    config.depth.local_weights_dir = str(tmp_path / "nothing-here")
    with pytest.raises(BackendError) as err:
        make_backend(config, "local")
    assert err.value.kind == "no_weights"


def test_replicate_without_a_token_says_how_to_set_one():
    with pytest.raises(ConfigError) as err:
        make_backend(Config(), "replicate")
    assert err.value.kind == "missing_token" and "REPLICATE_API_TOKEN" in str(err.value)
