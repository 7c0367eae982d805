"""Photo identity by content: a photo overwritten in place under the same URL is not published over, checked
against a real HTTP photo host on 127.0.0.1 (conditional GET where it sends validators, a re-fetch where not)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.imaging import validators
from depthstudio.imaging.image_errors import TooLargeError
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.jobs.publish import STALE, publish_result
from depthstudio.portal.demo import placeholder_avatar
from depthstudio.portal.repository import Portal
from depthstudio.storage.folder_store import LocalDirectoryStore
from tests.helpers import make_portal, portal_config
from tests.servers.photo_server import PhotoServer


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    placeholder_avatar(seed, size=96).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_validators() -> Iterator[None]:
    validators.seen.clear()  # each test starts as a new process would
    yield
    validators.seen.clear()


def _generated(db_url: str, tmp_path: Path, host: PhotoServer, **storage: object) -> tuple[Portal, int]:
    """A portal whose one user's photo lives on ``host``, with a generated and approved map of it."""
    url = host.put("/avatars/u0.png", _png(1), modified=1_700_000_000)
    make_portal(db_url, [url])
    cfg = portal_config(db_url, tmp_path)
    for key, value in storage.items():
        setattr(cfg.storage, key, value)
    portal = Portal.open(cfg)
    summary = GenerateMissingJob(portal, SyntheticBackend(), None, cfg, publish=False).run()
    assert summary.ok, summary.line()
    row = portal.get_user("u00000")
    assert row is not None and row.result_id is not None
    portal.decide(["u00000"], "approved", reviewer="ed")
    return portal, row.result_id


@pytest.mark.parametrize("with_validators", [True, False], ids=["conditional", "refetch"])
def test_a_photo_overwritten_in_place_under_the_same_url_is_not_published(db_url, tmp_path, with_validators):
    with PhotoServer(validators=with_validators).serving() as host:
        portal, rid = _generated(db_url, tmp_path, host)
        host.put("/avatars/u0.png", _png(2), modified=1_700_000_100)  # the portal overwrote the upload in place
        store = LocalDirectoryStore(tmp_path / "store")
        out = publish_result(portal, store, rid)
    assert out.outcome == STALE
    assert portal.get_user("u00000").depth_url is None  # type: ignore[union-attr]
    assert list((tmp_path / "store").glob("*.png")) == []  # no asset for a map of the old face
    assert host.requests[-1].status == 200  # the new bytes were fetched and compared


def test_an_unchanged_photo_is_confirmed_by_a_conditional_request_without_a_download(db_url, tmp_path):
    with PhotoServer().serving() as host:
        portal, rid = _generated(db_url, tmp_path, host)
        out = publish_result(portal, LocalDirectoryStore(tmp_path / "store"), rid)
    assert out.outcome == "published" and portal.get_user("u00000").depth_url == out.url  # type: ignore[union-attr]
    check = host.requests[-1]
    assert check.if_none_match is not None and check.if_modified_since is not None
    assert check.status == 304


def test_a_host_without_validators_is_fetched_again_and_an_unchanged_photo_published(db_url, tmp_path):
    with PhotoServer(validators=False).serving() as host:
        portal, rid = _generated(db_url, tmp_path, host)
        before = len(host.requests)
        out = publish_result(portal, LocalDirectoryStore(tmp_path / "store"), rid)
    assert out.outcome == "published"
    assert [r.status for r in host.requests[before:]] == [200] and host.requests[-1].if_none_match is None


def test_a_publisher_in_another_process_re_fetches_when_it_never_saw_the_validators(db_url, tmp_path):
    with PhotoServer().serving() as host:
        portal, rid = _generated(db_url, tmp_path, host)
        validators.seen.clear()  # the studio publishing hours later, on another machine
        host.put("/avatars/u0.png", _png(3), modified=1_700_000_200)
        out = publish_result(portal, LocalDirectoryStore(tmp_path / "store"), rid)
    assert out.outcome == STALE and host.requests[-1].if_none_match is None


def test_the_content_check_can_be_turned_off(db_url, tmp_path):
    with PhotoServer().serving() as host:
        portal, rid = _generated(db_url, tmp_path, host, confirm_photo_content=False)
        before = len(host.requests)
        host.put("/avatars/u0.png", _png(2))
        out = publish_result(portal, LocalDirectoryStore(tmp_path / "store"), rid)
    assert out.outcome == "published" and len(host.requests) == before  # no request: the operator's choice


def test_the_re_fetch_is_bounded_by_the_fetch_policy_and_publishes_nothing_when_it_fails(db_url, tmp_path):
    with PhotoServer(validators=False).serving() as host:
        portal, rid = _generated(db_url, tmp_path, host)
        host.put("/avatars/u0.png", _png(1) + b"\0" * 4096)  # grown past the limit set below
        portal.config.fetch.max_bytes = len(_png(1)) + 100
        with pytest.raises(TooLargeError):
            publish_result(portal, LocalDirectoryStore(tmp_path / "store"), rid)
    assert portal.get_user("u00000").depth_url is None  # type: ignore[union-attr]
    assert list((tmp_path / "store").glob("*.png")) == []
