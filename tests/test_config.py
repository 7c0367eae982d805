"""Configuration: file, then environment, then flags; errors name the setting; secrets never shown."""

from __future__ import annotations

import pytest

from depthstudio.config import Config, get_secret, load_config, mask
from depthstudio.errors import ConfigError


def test_defaults_match_the_prisma_user_model():
    cfg = load_config(environ={})
    p = cfg.portal
    assert (p.table, p.id_column, p.name_column, p.avatar_column, p.depth_column) == (
        "User",
        "id",
        "name",
        "avatar",
        "avatarDepthMap",
    )
    assert cfg.is_demo and cfg.portal_url().startswith("sqlite:///")


def test_file_then_environment_then_flags(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(
        '[portal]\nurl = "sqlite:///a.db"\ntable = "people"\n[fetch]\nmax_bytes = 10\n'
        '[depth]\nreplicate_input = { model_type = "dpt_swin2_large_384" }\n'
    )
    env = {
        "DEPTHSTUDIO_PORTAL_TABLE": "members",
        "DEPTHSTUDIO_FETCH_ALLOW_PRIVATE": "yes",
        "DEPTHSTUDIO_FETCH_PRIVATE_HOSTS": "images.internal, 10.0.0.5:8080",
    }
    cfg = load_config(f, environ=env, overrides={"portal": {"table": "staff", "url": None}})
    assert cfg.portal.url == "sqlite:///a.db" and cfg.portal.table == "staff"
    assert cfg.fetch.max_bytes == 10 and cfg.fetch.allow_private is True
    assert cfg.fetch.policy().private_hosts == ("images.internal", "10.0.0.5:8080")
    assert cfg.depth.replicate_input == {"model_type": "dpt_swin2_large_384"}


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[portl]\nurl = 'x'\n", {}, "unknown section [portl]"),
        ("[portal]\ntabel = 'x'\n", {}, "unknown setting portal.tabel"),
        # depthstudio's tables live in the portal's database; a separate one was never supported
        ("[studio]\nurl = 'sqlite:///s.db'\n", {}, "unknown setting studio.url"),
        ("[fetch]\nmax_bytes = 'big'\n", {}, "fetch.max_bytes='big' is not an integer"),
        ("", {"DEPTHSTUDIO_JOB_CONCURRENCY": "many"}, "job.concurrency='many' is not an integer"),
        ("[portal\n", {}, "is not valid TOML"),
        ("[job]\nconcurrency = 2.5\n", {}, "job.concurrency must be of type int, not float"),
        ("[portal]\ntable = 7\n", {}, "portal.table must be of type str, not int"),
        ("[depth]\nreplicate_input = [1]\n", {}, "depth.replicate_input must be of type dict, not list"),
        ("", {"DEPTHSTUDIO_JOB_LEASE_S": "0"}, "job.lease_s must be at least 1"),
        ("[job]\nconcurrency = 0\n", {}, "job.concurrency must be at least 1"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path, text, env, message):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(f, environ=env)


def test_secrets_come_from_the_environment_and_are_masked():
    env = {"REPLICATE_API_TOKEN": "r8_abcdefghijklmnopqrstuvwxyz"}
    assert get_secret("replicate_token", environ=env, use_keyring=False) == env["REPLICATE_API_TOKEN"]
    shown = mask(env["REPLICATE_API_TOKEN"])
    assert "abcdefghij" not in shown and shown.startswith("r8_")
    assert mask(None) == "(not set)" and mask("short") == "****"
    assert "REPLICATE" not in repr(Config())
