"""Opening a portal never hangs and never writes by surprise: timeouts, explicit migrations, read-only paths."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from depthstudio.config import Config, PortalConfig
from depthstudio.errors import PortalError
from depthstudio.portal.repository import Portal
from tests.helpers import make_portal


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never says a word (a stuck or firewalled server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_fails_in_seconds_naming_the_host_not_the_password(silent_listener):
    cfg = Config(portal=PortalConfig(url=f"postgresql+psycopg://editor:hunter2pw@127.0.0.1:{silent_listener}/portal"))
    cfg.portal.connect_timeout_s = 2
    started = time.monotonic()
    with pytest.raises(PortalError) as err:
        Portal.open(cfg)
    elapsed = time.monotonic() - started
    print(f"time to error: {elapsed:.2f} s; message: {err.value}")
    assert f"127.0.0.1:{silent_listener}" in str(err.value) and "timeout" in str(err.value).lower()
    assert "hunter2pw" not in str(err.value) and err.value.kind == "unreachable"


def _cli(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEPTHSTUDIO_PORTAL_URL": url}
    return subprocess.run([sys.executable, "-m", "depthstudio", *args], env=env, capture_output=True, text=True)


def _studio_tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return [t for t in inspect(engine).get_table_names() if t.startswith("depthstudio_")]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_db_status_and_upgrade_on_a_fresh_postgresql_database(pg_url):
    make_portal(pg_url, ["https://portal.example.com/a.png"])
    status = _cli(["db", "status"], pg_url)
    assert status.returncode == 1 and "schema version none" in status.stdout and "db upgrade" in status.stdout
    assert _studio_tables(pg_url) == [], "db status created nothing"
    up = _cli(["db", "upgrade"], pg_url)
    assert up.returncode == 0 and "upgraded" in up.stdout, up.stderr
    status = _cli(["db", "status"], pg_url)
    assert status.returncode == 0 and "(current)" in status.stdout
    assert _cli(["db", "upgrade"], pg_url).stdout.startswith("depthstudio's tables are current")


@pytest.mark.postgres
def test_listing_users_of_a_real_portal_never_creates_a_table(pg_url):
    make_portal(pg_url, ["https://portal.example.com/a.png"])
    out = _cli(["users"], pg_url)
    assert out.returncode == 2 and "depthstudio db upgrade" in out.stderr
    assert _studio_tables(pg_url) == []


@pytest.fixture
def role_without_create(pg_url: str) -> Iterator[str]:
    """A login role that may read the portal's table but not create tables (PostgreSQL 15's default for PUBLIC)."""
    make_portal(pg_url, ["https://portal.example.com/a.png"])
    role = f"i10_ro_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'REVOKE CREATE ON SCHEMA public FROM PUBLIC, "{role}"'))
        conn.execute(text(f'GRANT SELECT, UPDATE ON "User" TO "{role}"'))
    try:
        yield make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.postgres
def test_a_role_that_may_not_create_tables_is_told_what_to_run_and_nothing_is_written(pg_url, role_without_create):
    out = _cli(["generate-missing", "--backend", "synthetic", "--no-progress"], role_without_create)
    assert out.returncode == 2, out.stderr
    assert "may not create tables" in out.stderr and "depthstudio db upgrade" in out.stderr
    assert _studio_tables(pg_url) == []
    assert "may not create tables" in _cli(["db", "upgrade"], role_without_create).stderr
    assert _cli(["db", "upgrade"], pg_url).returncode == 0  # the owner can
