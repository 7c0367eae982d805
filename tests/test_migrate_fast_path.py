"""Opening a portal whose schema is current answers without alembic; anything else still goes through alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from depthstudio.portal import migrate
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import VERSION_TABLE
from tests.helpers import make_portal, portal_config

ROOT = Path(__file__).resolve().parents[1]
OPEN = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from depthstudio.portal.repository import Portal
from tests.helpers import portal_config
Portal.open(portal_config({url!r}, Path({tmp!r}))).close()
print("alembic" in sys.modules)
"""


def test_the_scripts_head_read_without_alembic_is_alembics_head():
    assert migrate._scripted_head() == migrate.head_revision()


def test_a_current_schema_opens_without_importing_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(url, ["a"])
    Portal.open(portal_config(url, tmp_path)).close()  # creates the tables (through alembic)
    script = OPEN.format(root=str(ROOT), url=url, tmp=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False"]


def test_an_older_schema_is_still_upgraded(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(url, ["a"])
    portal = Portal.open(portal_config(url, tmp_path))
    with portal.engine.begin() as conn:  # as if the last migration had not run: the fast path must not answer
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'not-a-revision'"))
    portal.close()
    assert migrate._stored_revisions(portal.engine) == ["not-a-revision"]
    with pytest.raises(Exception, match="not-a-revision"):  # alembic's check ran: the fast path did not answer
        Portal.open(portal_config(url, tmp_path))
