"""The portal layer on SQLite and on the real PostgreSQL: reflection, statuses, search and paging in SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from depthstudio.config import Config, PortalConfig
from depthstudio.errors import ConfigError, SchemaError
from depthstudio.portal import migrate
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import STATUSES, Portal, Query
from tests.helpers import make_portal, portal_config, seed_every_status, tiny_result


def test_missing_table_is_named_with_what_exists(db_url, tmp_path):
    make_portal(db_url, ["a"])
    cfg = Config(portal=PortalConfig(url=db_url, table="Users"))
    with pytest.raises(SchemaError) as err:
        Portal.open(cfg)
    assert "'Users'" in str(err.value) and "User" in str(err.value)


def test_missing_column_is_named_with_the_table_columns(db_url):
    make_portal(db_url, ["a"])
    cfg = Config(portal=PortalConfig(url=db_url, depth_column="depthUrl"))
    with pytest.raises(SchemaError) as err:
        Portal.open(cfg)
    msg = str(err.value)
    assert "depthUrl" in msg and "avatarDepthMap" in msg and "email" in msg


def test_migrations_create_only_our_tables_and_are_idempotent(db_url, tmp_path):
    make_portal(db_url, ["a"])
    portal = Portal.open(portal_config(db_url, tmp_path))
    tables = set(inspect(portal.engine).get_table_names())
    assert {
        "User",
        "depthstudio_jobs",
        "depthstudio_results",
        "depthstudio_reviews",
        "depthstudio_overrides",
        "depthstudio_user_state",
        "depthstudio_alembic_version",
    } <= tables
    assert all(t == "User" or t.startswith("depthstudio_") for t in tables)
    assert migrate.current_revision(portal.engine) == migrate.head_revision()
    Portal.open(portal_config(db_url, tmp_path))  # second start: no error, nothing to do


def test_migrated_schema_matches_the_table_definitions(db_url, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from depthstudio.portal.tables import PREFIX, VERSION_TABLE, metadata

    make_portal(db_url, ["a"])
    portal = Portal.open(portal_config(db_url, tmp_path))
    with portal.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "include_name": lambda n, t, p: t != "table" or (n or "").startswith(PREFIX),
            },
        )
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_every_status_is_derived_in_sql(db_url, tmp_path):
    portal, avatars = seed_every_status(db_url, tmp_path)
    got = {r.id: r.status for r in portal.list_users(limit=100)}
    assert got == {
        "u00000": "missing",
        "u00001": "queued",
        "u00002": "generating",
        "u00003": "failed",
        "u00004": "generated",
        "u00005": "approved",
        "u00006": "rejected",
        "u00007": "stale",
        "u00008": "published",
        "u00009": "no_photo",
    }
    failed = portal.get_user("u00003")
    assert failed.error_kind == "not_an_image" and failed.error == "the file is HTML"
    rejected = portal.get_user("u00006")
    assert rejected.reviewer == "ed" and rejected.note == "halo around the hair"
    counts = portal.status_counts()
    assert counts["all"] == 10 and all(counts[s] == 1 for s in STATUSES)
    assert [r.id for r in portal.list_users(Query(statuses=["approved", "rejected"]))] == ["u00005", "u00006"]
    assert portal.ids_needing_depth() == [("u00000", avatars[0]), ("u00007", "https://img.example/new.png")]


def test_search_and_paging_run_in_the_database(db_url, tmp_path):
    names = [f"Person {i:03d}" for i in range(250)]
    names[42] = "Grace 100% Hopper_x"
    make_portal(db_url, ["https://a/x.png"] * 250, names=names)
    portal = Portal.open(portal_config(db_url, tmp_path))
    page = portal.list_users(Query(search="person"), offset=100, limit=50)
    assert [r.name for r in page] == sorted(n for n in names if n.startswith("Person"))[100:150]
    assert portal.count_users(Query(search="PERSON 1")) == 100
    # LIKE metacharacters are literal in a search
    assert [r.name for r in portal.list_users(Query(search="100%"))] == ["Grace 100% Hopper_x"]
    assert portal.count_users(Query(search="_x")) == 1


def test_unknown_status_or_sort_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown status"):
        Query(statuses=["done"])
    with pytest.raises(ConfigError, match="unknown sort"):
        Query(sort="size")


def test_overrides_and_settings_round_trip(db_url, tmp_path):
    make_portal(db_url, ["a", "b"])
    portal = Portal.open(portal_config(db_url, tmp_path))
    portal.set_overrides(["u00000", "u00001"], {"plane": 0.1}, by="designer")
    assert portal.get_overrides("u00001") == {"plane": 0.1}
    portal.set_overrides(["u00001"], {}, by="designer")
    assert portal.get_overrides("u00001") == {}
    portal.set_setting("shader_defaults", {"multiplier": 2}, by="designer")
    assert portal.get_setting("shader_defaults") == {"multiplier": 2}


def test_integer_portal_ids_work(db_url, tmp_path):
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text('CREATE TABLE people (pk INTEGER PRIMARY KEY, "fullName" TEXT, photo TEXT, depth TEXT)'))
        conn.execute(text("INSERT INTO people VALUES (7, 'Ann', 'https://a/1.png', NULL)"))
    engine.dispose()
    cfg = Config(
        portal=PortalConfig(
            url=db_url,
            table="people",
            id_column="pk",
            name_column="fullName",
            avatar_column="photo",
            depth_column="depth",
        )
    )
    portal = Portal.open(cfg)
    JobQueue(portal).enqueue([("7", "https://a/1.png")])
    assert portal.get_user("7").status == "queued"


def test_demo_portal_is_created_on_first_start():
    cfg = Config()
    portal = Portal.open(cfg)
    rows = portal.list_users(limit=1000)
    names = {r.name for r in rows}
    assert {"Eileen Collins", "Grace Hopper", "Chelsea the Cat"} <= names
    assert len(rows) >= 40
    assert all(r.avatar is None or r.avatar.startswith("file://") for r in rows)
    assert cfg.demo_portal_path().exists()


def test_a_decision_applies_only_to_the_result_the_reviewer_was_shown(db_url, tmp_path):
    avatars = ["https://img.example/0.png", "https://img.example/1.png"]
    make_portal(db_url, avatars)
    portal = Portal.open(portal_config(db_url, tmp_path))
    q = JobQueue(portal)

    def generate(uid: str) -> int:
        q.enqueue([(uid, avatars[int(uid[1:])])])
        job = q.claim("w")
        assert job is not None and job.user_id == uid
        result_id = q.complete(job, tiny_result(avatars[int(uid[1:])]))
        assert result_id is not None
        return result_id

    shown = {"u00000": generate("u00000"), "u00001": generate("u00001")}
    generate("u00000")  # regenerated while the reviewer looked at the first map
    applied = portal.decide(["u00000", "u00001"], "approved", reviewer="ed", expected=shown)
    assert applied == ["u00001"]
    assert portal.get_user("u00000").decision is None and portal.get_user("u00001").decision == "approved"
    assert portal.decide(["u00000"], "approved", reviewer="ed") == ["u00000"]  # without: the current result
