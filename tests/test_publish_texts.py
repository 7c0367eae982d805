"""The publish confirmation tells the truth for every store and URL setting: each sentence is checked against what
the configured store really does with a map (where the file goes, which URL the portal would get, or the refusal)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depthstudio.config import Config, PortalConfig
from depthstudio.depth.postprocess import encode_png
from depthstudio.errors import ConfigError
from depthstudio.storage import describe_destination, open_store
from depthstudio.storage.store import StoreKey
from tests.servers.cloudinary_server import running_cloudinary_server

KEY = StoreKey("u1", "ab" * 32)
PNG = encode_png(np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8), 8)


def _config(tmp_path: Path, *, demo: bool, base: str = "", kind: str = "local") -> Config:
    cfg = Config(portal=PortalConfig(url="" if demo else f"sqlite:///{tmp_path / 'portal.sqlite3'}"))
    cfg.storage.kind = kind
    cfg.storage.local_dir = str(tmp_path / "maps")
    cfg.storage.local_public_base_url = base
    return cfg


def test_the_demo_without_a_base_url_says_file_urls_and_names_the_real_folder(tmp_path):
    cfg = _config(tmp_path, demo=True)
    text = describe_destination(cfg, "the demo portal")
    asset = open_store(cfg).put(KEY, PNG)
    folder = (tmp_path / "maps").resolve()
    assert f"into {folder} " in text and "file:// URL" in text and "the data folder's" not in text
    assert asset.url.startswith("file://") and Path(asset.location).parent == folder


@pytest.mark.parametrize("demo", [True, False])
def test_a_public_base_url_is_what_the_text_promises_demo_or_not(tmp_path, demo):
    cfg = _config(tmp_path, demo=demo, base="https://cdn.example.org/depth/")
    text = describe_destination(cfg, "the portal")
    asset = open_store(cfg).put(KEY, PNG)
    assert "under https://cdn.example.org/depth/ " in text and "file://" not in text
    assert asset.url.startswith("https://cdn.example.org/depth/")


def test_a_real_portal_without_a_base_url_is_told_it_is_refused(tmp_path):
    cfg = _config(tmp_path, demo=False)
    text = describe_destination(cfg, "postgresql://db/portal")
    assert text.startswith("Publishing is refused:") and "storage.local_public_base_url" in text
    with pytest.raises(ConfigError) as refused:
        open_store(cfg)
    assert refused.value.kind == "store_not_public"


def test_an_unknown_store_kind_is_told_it_is_refused(tmp_path):
    cfg = _config(tmp_path, demo=False, kind="s3")
    assert describe_destination(cfg, "the portal").startswith("Publishing is refused: storage.kind “s3”")
    with pytest.raises(ConfigError):
        open_store(cfg)


@pytest.mark.parametrize("demo", [True, False])
def test_cloudinary_names_its_api_and_folder_and_the_url_is_https(tmp_path, monkeypatch, demo):
    with running_cloudinary_server() as server:
        monkeypatch.setenv("CLOUDINARY_URL", server.cloudinary_url)
        cfg = _config(tmp_path, demo=demo, base="https://ignored.example.org/", kind="cloudinary")
        cfg.storage.cloudinary_folder = "avatars3d"
        cfg.storage.cloudinary_upload_prefix = server.upload_prefix
        text = describe_destination(cfg, "the portal")
        asset = open_store(cfg).put(KEY, PNG)
        prefix = server.upload_prefix
    assert f"Cloudinary at {prefix}, folder “avatars3d”" in text and "https URL" in text
    assert "file://" not in text and "ignored.example.org" not in text
    assert asset.url.startswith("https://") and "/avatars3d/" in asset.url
