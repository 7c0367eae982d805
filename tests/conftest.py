"""Shared fixtures. Databases are real: a temp SQLite file, and a fresh database on the PostgreSQL server.

Under CI (``CI=true``) an unreachable PostgreSQL server is a failure, never a skip.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get("DEPTHSTUDIO_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent
SAMPLE_AVATARS = REPO / "resources" / "demo" / "avatars"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's real config, data dir or keyring."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DEPTHSTUDIO_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("DEPTHSTUDIO_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("DEPTHSTUDIO_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # The test portals' avatars are files: opt in explicitly, as an operator would (tests of the refusal unset it).
    monkeypatch.setenv("DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS", "true")
    for var in ("REPLICATE_API_TOKEN", "CLOUDINARY_URL", "DEPTHSTUDIO_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def _pg_database() -> Iterator[str]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"dstest_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required under CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test runs once on SQLite and once on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    else:
        yield from _pg_database()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database, for tests that only make sense there (row locks, several workers)."""
    yield from _pg_database()


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory):
    """Exported once per session (the export takes seconds); read-only for the tests."""
    from tests.onnx_model import export_tiny

    return export_tiny(tmp_path_factory.mktemp("onnx"))


@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch):
    """An ``nvidia-smi`` on PATH that names one H100, as the real tool answers the query devices.py sends."""
    tool = tmp_path / "bin" / "nvidia-smi"
    tool.parent.mkdir()
    tool.write_text('#!/bin/sh\n[ "$1" = "--query-gpu=name" ] && echo "NVIDIA H100 80GB HBM3" && exit 0\nexit 9\n')
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    from depthstudio.depth import devices

    devices.nvidia_gpu.cache_clear()
    yield
    devices.nvidia_gpu.cache_clear()
