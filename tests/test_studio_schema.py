"""On PostgreSQL depthstudio's tables live in their own schema (``depthstudio``), never in the schema the portal's
ORM manages (Prisma's ``migrate dev`` offers to reset a schema holding tables it did not create); an install from
before keeps its data when ``db upgrade`` moves its tables there."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from depthstudio.config import Config, PortalConfig
from depthstudio.portal import migrate
from depthstudio.portal.engine import make_engine
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import record_result
from tests.helpers import make_portal, tiny_result

pytestmark = pytest.mark.postgres


def _tables(url: str) -> dict[str, set[str]]:
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        return {s: set(insp.get_table_names(schema=s)) for s in ("public", "depthstudio")}
    finally:
        engine.dispose()


def test_a_new_install_keeps_the_portal_schema_to_the_portals_tables(pg_url):
    make_portal(pg_url, ["https://portal.example.com/a.png"])
    portal = Portal.open(Config(portal=PortalConfig(url=pg_url)))
    record_result(portal, "u00000", tiny_result("https://portal.example.com/a.png"))
    assert portal.get_user("u00000").status == "generated"  # type: ignore[union-attr]  # joined across schemas
    portal.close()
    tables = _tables(pg_url)
    assert tables["public"] == {"User"}
    assert "depthstudio_jobs" in tables["depthstudio"] and "depthstudio_alembic_version" in tables["depthstudio"]


def test_an_install_beside_the_portal_moves_into_its_own_schema_with_its_data(pg_url):
    make_portal(pg_url, ["https://portal.example.com/a.png", "https://portal.example.com/b.png"])
    before = Portal.open(Config(portal=PortalConfig(url=pg_url, studio_schema="")))  # the layout before 0008_24
    record_result(before, "u00001", tiny_result("https://portal.example.com/b.png"))
    before.decide(["u00001"], "approved", reviewer="ed")
    before.close()
    assert "depthstudio_results" in _tables(pg_url)["public"]
    engine = make_engine(pg_url, studio_schema="depthstudio")
    assert migrate.may_create_tables(engine)
    migrate.upgrade(engine)
    engine.dispose()
    tables = _tables(pg_url)
    assert tables["public"] == {"User"} and {"depthstudio_results", "depthstudio_reviews"} <= tables["depthstudio"]
    after = Portal.open(Config(portal=PortalConfig(url=pg_url)))
    row = after.get_user("u00001")
    assert row is not None and row.status == "approved" and row.reviewer == "ed"
    record_result(after, "u00000", tiny_result("https://portal.example.com/a.png"))  # sequences moved along
    assert after.status_counts()["generated"] == 1
    after.close()
