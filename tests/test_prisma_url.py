"""Portals as Prisma users configure them, on the real PostgreSQL server: ``?schema=`` names the schema of the
``User`` table, Prisma's other URL parameters are understood or refused by name, and a missing table names the schema
it was looked for in and what is there."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from depthstudio.config import Config, PortalConfig
from depthstudio.errors import ConfigError, SchemaError
from depthstudio.portal.engine import make_engine
from depthstudio.portal.repository import Portal
from tests.helpers import make_portal

pytestmark = pytest.mark.postgres


def _with(url: str, **query: str) -> str:
    return make_url(url).update_query_dict(query).render_as_string(hide_password=False)


@pytest.fixture
def ux_portal(pg_url: str, tmp_path) -> str:
    """A portal whose ``User`` table lives in schema ``ux`` (Prisma's ``?schema=ux``), with a ``Post`` beside it."""
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text("CREATE SCHEMA ux"))
        conn.execute(text('CREATE TABLE ux."Post" (id int primary key)'))
    admin.dispose()
    make_portal(_with(pg_url, options="-csearch_path=ux"), [None, None], names=["Ann", "Bo"])
    return pg_url


def test_schema_in_the_url_is_the_portal_schema(ux_portal, tmp_path):
    portal = Portal.open(Config(portal=PortalConfig(url=_with(ux_portal, schema="ux"))))
    try:
        assert [r.name for r in portal.list_users()] == ["Ann", "Bo"]
        assert portal.users.table.schema == "ux"
    finally:
        portal.close()


def test_a_missing_table_names_the_schema_and_the_tables_seen_there(ux_portal):
    with pytest.raises(SchemaError) as public:
        Portal.open(Config(portal=PortalConfig(url=ux_portal)))
    message = str(public.value)
    assert "the tables in schema 'public' are: (none)" in message and "exists in schema 'ux'" in message
    with pytest.raises(SchemaError) as wrong_table:
        Portal.open(Config(portal=PortalConfig(url=_with(ux_portal, schema="ux"), table="Users")))
    assert "the tables in schema 'ux' are: Post, User." in str(wrong_table.value)
    with pytest.raises(SchemaError) as no_schema:
        Portal.open(Config(portal=PortalConfig(url=_with(ux_portal, schema="nope"))))
    assert "there is no schema 'nope'" in str(no_schema.value)


def test_prisma_parameters_are_understood_or_refused_by_name(pg_url):
    engine = make_engine(_with(pg_url, schema="ux", connection_limit="3", pool_timeout="4", pgbouncer="true"))
    try:
        assert engine.pool.size() == 3
        with engine.connect() as conn:  # the driver never sees Prisma's parameters
            assert conn.execute(text("select 1")).scalar_one() == 1
    finally:
        engine.dispose()
    with pytest.raises(ConfigError, match=r"'sslaccept' .*sslmode=verify-full"):
        make_engine(_with(pg_url, sslaccept="strict"))
    with pytest.raises(ConfigError, match="keep one"):
        PortalConfig(url=_with(pg_url, schema="ux"), schema="other").schema_name()
