"""Defaults that are safe against a real portal: its avatar values are written by strangers."""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from depthstudio.config import Config, PortalConfig, load_config
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.portal.repository import Portal
from depthstudio.storage import open_store
from depthstudio.storage.store import StoreKey
from tests.helpers import make_portal, write_avatars

_IN_OPEN, _IN_ACCESS, _IN_NONBLOCK = 0x20, 0x01, 0o4000


class OpenWatch:
    """Linux inotify on one file: did anything open or read it? (stat() raises no event, so only a real read shows.)"""

    def __init__(self, path: Path) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(_IN_NONBLOCK)
        assert self.fd >= 0 and self._libc.inotify_add_watch(self.fd, str(path).encode(), _IN_OPEN | _IN_ACCESS) >= 0

    def events(self) -> int:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return 0
        count, offset = 0, 0
        while offset < len(data):
            _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
            offset += 16 + length
            count += 1
        return count

    def close(self) -> None:
        os.close(self.fd)


def _pg_portal_with_file_avatar(pg_url: str, tmp_path: Path) -> tuple[Config, Path]:
    secret = Path(write_avatars(tmp_path / "private", 1)[0].removeprefix("file://"))
    make_portal(pg_url, [secret.as_uri()])
    cfg = Config(portal=PortalConfig(url=pg_url))
    cfg.storage.local_dir = str(tmp_path / "store")
    cfg.fetch.crop_size = 64
    return cfg, secret


@pytest.mark.postgres
def test_a_file_avatar_on_a_postgresql_portal_is_refused_and_never_opened(pg_url, tmp_path, monkeypatch):
    monkeypatch.delenv("DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS")
    cfg, secret = _pg_portal_with_file_avatar(pg_url, tmp_path)
    assert not cfg.fetch.allow_local_paths  # the default
    portal = Portal.open(cfg)
    watch = OpenWatch(secret)
    try:
        summary = GenerateMissingJob(portal, SyntheticBackend(), None, cfg, concurrency=1).run()
        assert watch.events() == 0
    finally:
        watch.close()
        portal.close()
    assert summary.progress.outcomes == {"failed": 1}
    row = Portal.open(cfg).get_user("u00000")
    assert row.error_kind == "local_path_refused" and "local file" in row.error


@pytest.mark.postgres
def test_the_explicit_opt_in_reads_the_file_so_the_watch_would_have_seen_it(pg_url, tmp_path):
    cfg, secret = _pg_portal_with_file_avatar(pg_url, tmp_path)
    cfg.fetch.allow_local_paths = True
    portal = Portal.open(cfg)
    watch = OpenWatch(secret)
    try:
        summary = GenerateMissingJob(portal, SyntheticBackend(), None, cfg, concurrency=1).run()
        assert watch.events() > 0
    finally:
        watch.close()
        portal.close()
    assert summary.progress.outcomes == {"generated": 1}


def test_the_demo_portal_reads_its_file_avatars_and_a_real_portal_does_not(monkeypatch):
    monkeypatch.delenv("DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS")
    assert load_config().fetch.policy().allow_local_paths
    assert (
        not load_config(environ={"DEPTHSTUDIO_PORTAL_URL": "postgresql://portal@db/portal"})
        .fetch.policy()
        .allow_local_paths
    )
    opted = load_config(
        environ={"DEPTHSTUDIO_PORTAL_URL": "postgresql://p@db/p", "DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS": "1"}
    )
    assert opted.fetch.policy().allow_local_paths


def _cli(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPTHSTUDIO_STORAGE")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "depthstudio", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.postgres
def test_the_local_store_refuses_to_publish_into_a_postgresql_portal_before_doing_anything(pg_url, tmp_path):
    make_portal(pg_url, write_avatars(tmp_path / "avatars", 2, size=256))  # big enough for the photo QA
    env = {"DEPTHSTUDIO_PORTAL_URL": pg_url, "DEPTHSTUDIO_STORAGE_LOCAL_DIR": str(tmp_path / "store")}
    assert _cli(["generate-missing", "--backend", "synthetic", "--no-publish", "--no-progress"], env).returncode == 0
    assert _cli(["review", "u00000", "--approve"], env).returncode == 0
    for args in (["publish", "--no-progress"], ["generate-missing", "--backend", "synthetic", "--publish"]):
        out = _cli(args, env)
        assert out.returncode == 2, out.stderr
        assert "Cloudinary" in out.stderr and "storage.local_public_base_url" in out.stderr
    assert not (tmp_path / "store").exists()
    portal = Portal.open(Config(portal=PortalConfig(url=pg_url)))
    assert [portal.get_user(u).status for u in ("u00000", "u00001")] == ["approved", "generated"]
    assert portal.get_user("u00000").depth_url is None


def test_with_a_public_base_url_the_local_store_publishes_web_urls(tmp_path):
    cfg = Config(portal=PortalConfig(url=f"sqlite:///{tmp_path / 'p.db'}"))
    cfg.storage.local_dir = str(tmp_path / "store")
    cfg.storage.local_public_base_url = "https://portal.example.com/depthmaps/"
    store = open_store(cfg)
    asset = store.put(StoreKey("u1", "ab" * 32), b"\x89PNG fake")
    assert asset.url == "https://portal.example.com/depthmaps/u1-abababababababab.png" and store.owns(asset.url)
    assert (tmp_path / "store" / "u1-abababababababab.png").read_bytes() == b"\x89PNG fake"


def test_the_fetch_policy_on_its_own_is_as_safe_as_the_configuration():
    """A policy built without the configuration (a fallback, a new caller) refuses local paths as a real portal's
    configuration does: the two share one set of defaults (issue 28: they disagreed on ``allow_local_paths``)."""
    from depthstudio.config import FetchConfig
    from depthstudio.errors import ImagingError
    from depthstudio.imaging import FetchPolicy, load_avatar

    assert FetchConfig().policy() == FetchPolicy()
    with pytest.raises(ImagingError) as refused:
        load_avatar("/etc/hostname", FetchPolicy())
    assert refused.value.kind == "local_path_refused"
