"""Undo of a publish on both databases, publishing through the official SDK to the Cloudinary protocol server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import MetaData, create_engine, select, update

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import GenerateMissingJob, PublishApprovedJob
from depthstudio.jobs.unpublish import UnpublishError, unpublish
from depthstudio.portal.demo import portal_users_table
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import publications
from depthstudio.storage.cloudinary import CloudinaryStore
from tests.helpers import make_portal, portal_config, set_avatar, write_avatars
from tests.servers.cloudinary_server import CloudinaryServer, running_cloudinary_server

OLD_MAP = "https://maps.example.org/old-depth.png"  # a map the portal had from elsewhere (the old daily job)


@pytest.fixture
def cloud() -> Iterator[CloudinaryServer]:
    with running_cloudinary_server() as srv:
        yield srv


def _undoable(portal: Portal, user_id: str) -> bool:
    """The user has a publish by depthstudio that has not been undone."""
    p = publications
    with portal.engine.connect() as conn:
        return conn.execute(select(p.c.id).where(p.c.user_id == user_id, p.c.undone_at.is_(None))).first() is not None


def _set_depth(db_url: str, user_id: str, value: str | None) -> None:
    engine = create_engine(db_url)
    table = portal_users_table(MetaData())
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == user_id).values(avatarDepthMap=value))
    engine.dispose()


def _published(db_url, tmp_path, cloud) -> tuple[Portal, CloudinaryStore]:
    """u00000 had a map from elsewhere, u00001 none; both get one of ours, approved and published."""
    make_portal(db_url, write_avatars(tmp_path / "avatars", 2, size=64))
    _set_depth(db_url, "u00000", OLD_MAP)
    cfg = portal_config(db_url, tmp_path)
    portal = Portal.open(cfg)
    store = CloudinaryStore(cloud.cloudinary_url, upload_prefix=cloud.upload_prefix, timeout_s=5.0)
    _generate_and_publish(portal, store, cfg)
    return portal, store


def _generate_and_publish(portal: Portal, store: CloudinaryStore, cfg) -> None:
    assert GenerateMissingJob(portal, SyntheticBackend(), None, cfg, user_ids=["u00000", "u00001"]).run().ok
    portal.decide(["u00000", "u00001"], "approved", reviewer="ed")
    summary = PublishApprovedJob(portal, store, cfg).run()
    assert summary.progress.outcomes == {"published": 2}


def test_undo_restores_the_previous_portal_value_and_keeps_the_asset(db_url, tmp_path, cloud):
    portal, store = _published(db_url, tmp_path, cloud)
    ours = portal.get_user("u00000").depth_url
    assert store.owns(ours) and len(cloud.assets) == 3 * 2

    out = unpublish(portal, "u00000", by="ed")

    assert (out.removed, out.restored) == (ours, OLD_MAP)
    row = portal.get_user("u00000")
    assert row.depth_url == OLD_MAP
    assert row.status == "generated"  # back to review: "Publish approved" does not put it straight back
    entry = portal.review_history("u00000")[0]
    assert entry["decision"] == "unpublished" and entry["reviewer"] == "ed" and OLD_MAP in entry["note"]
    assert len(cloud.assets) == 3 * 2 and not cloud.destroyed  # the asset is kept (see jobs/unpublish.py)
    assert portal.get_user("u00001").status == "published"  # the other user is untouched


def test_undo_of_a_first_publish_leaves_no_depth_map(db_url, tmp_path, cloud):
    portal, _ = _published(db_url, tmp_path, cloud)
    assert unpublish(portal, "u00001", by="ed").restored is None
    assert portal.get_user("u00001").depth_url is None


def test_undo_is_refused_when_the_portal_no_longer_shows_what_we_wrote(db_url, tmp_path, cloud):
    portal, _ = _published(db_url, tmp_path, cloud)
    _set_depth(db_url, "u00000", "https://elsewhere.example.org/newer.png")  # another tool wrote it since
    with pytest.raises(UnpublishError) as err:
        unpublish(portal, "u00000", by="ed")
    assert err.value.kind == "changed_since" and "newer.png" in str(err.value)
    assert portal.get_user("u00000").depth_url == "https://elsewhere.example.org/newer.png"
    assert _undoable(portal, "u00000")  # still undoable if the column comes back


def test_a_new_photo_since_the_publish_is_not_undone(db_url, tmp_path, cloud):
    portal, _ = _published(db_url, tmp_path, cloud)
    set_avatar(db_url, "u00000", write_avatars(tmp_path / "new", 1)[0])  # the portal clears the column
    with pytest.raises(UnpublishError, match="no depth map now"):
        unpublish(portal, "u00000", by="ed")
    assert portal.get_user("u00000").depth_url is None


def test_a_publish_is_undone_once(db_url, tmp_path, cloud):
    portal, _ = _published(db_url, tmp_path, cloud)
    unpublish(portal, "u00000", by="ed")
    with pytest.raises(UnpublishError) as err:
        unpublish(portal, "u00000", by="ed")
    assert err.value.kind == "nothing_to_undo"
    assert portal.get_user("u00000").depth_url == OLD_MAP


def test_undo_of_a_republish_of_the_same_photo_is_refused_since_the_asset_was_overwritten(db_url, tmp_path, cloud):
    portal, store = _published(db_url, tmp_path, cloud)
    first = portal.get_user("u00000").depth_url
    _generate_and_publish(portal, store, portal.config)  # same photos: same asset, overwritten
    second = portal.get_user("u00000").depth_url
    assert second != first and len(cloud.assets) == 3 * 2
    with pytest.raises(UnpublishError) as err:
        unpublish(portal, "u00000", by="ed")
    assert err.value.kind == "previous_overwritten"
    assert portal.get_user("u00000").depth_url == second


def test_cli_unpublish(tmp_path, cloud):
    from click.testing import CliRunner

    from depthstudio.cli import main

    db_url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    _published(db_url, tmp_path, cloud)
    runner = CliRunner()
    args = ["--portal-url", db_url, "unpublish", "u00000", "nobody"]
    result = runner.invoke(main, args, env={"DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS": "true"})
    assert result.exit_code == 3, result.output
    assert f"u00000: publish undone; the portal shows {OLD_MAP} again" in result.output
    assert "nobody: not undone [nothing_to_undo]" in result.output
    assert Portal.open(portal_config(db_url, tmp_path)).get_user("u00000").depth_url == OLD_MAP
