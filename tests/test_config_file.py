"""Settings written back into a hand-written config file: only the edited keys change, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from depthstudio.config import Config, load_config
from depthstudio.config_file import changes, save_settings
from depthstudio.errors import ConfigError

HAND_WRITTEN = """\
# depthstudio for the Acme portal: edited by hand, keep the comments
[portal]
url = "postgresql+psycopg://app@db.internal/portal?schema=public"   # the read replica
table = "User"

# avatars come from our own CDN, inside the firewall
[fetch]
private_hosts = ["cdn.internal:8443"]
future_option = "kept"   # a key a later release knows

[storage]
local_dir = "/srv/depthmaps"
local_public_base_url = "https://portal.example.com/depthmaps"
"""


def test_an_edit_changes_only_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    save_settings(path, {("storage", "local_public_base_url"): "https://cdn.example.com/maps"})
    expected = HAND_WRITTEN.replace("https://portal.example.com/depthmaps", "https://cdn.example.com/maps")
    assert path.read_bytes() == expected.encode()


def test_a_new_setting_joins_its_section_and_a_new_section_goes_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    save_settings(path, {("fetch", "timeout_s"): 30.0, ("depth", "backend"): "replicate"})
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HAND_WRITTEN.split("\n[storage]")[0].rstrip("\n"))  # comments, order, unknown key
    assert 'future_option = "kept"   # a key a later release knows\ntimeout_s = 30.0\n' in text
    assert text.endswith('\n[depth]\nbackend = "replicate"\n')


def test_a_setting_set_back_to_its_default_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    save_settings(path, {("portal", "table"): "Members"})
    save_settings(path, {("portal", "table"): Config().portal.table})
    assert "table" not in path.read_text(encoding="utf-8")  # a later release's default applies again
    assert path.read_text(encoding="utf-8").replace('table = "User"\n', "") == path.read_text(encoding="utf-8")


def test_a_new_file_holds_only_what_differs_from_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    before = Config()
    after = Config()
    after.storage.local_public_base_url = "https://portal.example.com/maps"
    after.fetch.private_hosts = ["cdn.internal"]
    save_settings(path, changes(before, after))
    assert path.read_text(encoding="utf-8").splitlines() == [
        "[storage]",
        'local_public_base_url = "https://portal.example.com/maps"',
        "",
        "[fetch]",
        'private_hosts = ["cdn.internal"]',
    ]
    loaded = load_config(path, environ={})
    assert loaded.storage.local_public_base_url == "https://portal.example.com/maps"
    assert loaded.fetch.private_hosts == ["cdn.internal"]


def test_a_bad_value_is_refused_and_the_file_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"job\.concurrency"):
        save_settings(path, {("portal", "table"): "Members", ("job", "concurrency"): 0})
    assert path.read_text(encoding="utf-8") == HAND_WRITTEN
    assert not list(tmp_path.glob("*.tmp"))


def test_a_broken_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[portal\nurl = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        save_settings(path, {("portal", "table"): "Members"})
    assert path.read_text(encoding="utf-8") == "[portal\nurl = "
