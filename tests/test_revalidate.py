"""Re-validating the photos behind existing maps, against a real photo host on 127.0.0.1 that overwrites photos in
place: a changed photo makes its user stale (listed, counted, queued next run) and takes its published map off the
portal; an unchanged one costs a 304; a host without validators is re-fetched within the fetch policy."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.imaging import validators
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.jobs.photo_check import revalidate
from depthstudio.jobs.publish import STALE, publish_result
from depthstudio.portal.demo import placeholder_avatar
from depthstudio.portal.repository import Portal, Query
from depthstudio.storage.folder_store import LocalDirectoryStore
from tests.helpers import make_portal, portal_config
from tests.servers.photo_server import PhotoServer

OLD = 1_700_000_000


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    placeholder_avatar(seed, size=64).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_validators() -> Iterator[None]:
    validators.seen.clear()
    yield
    validators.seen.clear()


def _published(db_url: str, tmp_path: Path, host: PhotoServer, n: int = 3) -> Portal:
    """``n`` users whose photos live on ``host``, each with a published map; then a new process (no validators seen)."""
    urls = [host.put(f"/avatars/u{i}.png", _png(i), modified=OLD) for i in range(n)]
    make_portal(db_url, urls)
    cfg = portal_config(db_url, tmp_path)
    cfg.storage.local_public_base_url = "https://cdn.example.org/maps"
    cfg.fetch.revalidate_per_s = 0
    portal = Portal.open(cfg)
    store = LocalDirectoryStore(tmp_path / "store", public_base_url="https://cdn.example.org/maps")
    summary = GenerateMissingJob(portal, SyntheticBackend(), store, cfg, publish=True).run()
    assert summary.progress.outcomes == {"published": n}, summary.line()
    validators.seen.clear()
    host.requests.clear()
    return portal


@pytest.mark.parametrize("with_validators", [True, False], ids=["conditional", "refetch"])
def test_a_photo_changed_in_place_makes_its_user_stale_and_clears_the_published_map(db_url, tmp_path, with_validators):
    with PhotoServer(validators=with_validators).serving() as host:
        portal = _published(db_url, tmp_path, host)
        first = revalidate(portal, portal.config)  # learns the validators (or confirms by the bytes)
        assert (first.checked, first.changed) == (3, [])
        host.put("/avatars/u1.png", _png(7), modified=OLD + 100)  # the portal overwrote the upload in place
        portal.config.fetch.revalidate_after_s = 0
        host.requests.clear()
        found = revalidate(portal, portal.config)
        asked = sorted((r.if_none_match is not None, r.status) for r in host.requests)
    assert (found.checked, found.changed, found.cleared) == (3, ["u00001"], ["u00001"])
    assert asked == ([(True, 200), (True, 304), (True, 304)] if with_validators else [(False, 200)] * 3)
    row = portal.get_user("u00001")
    assert row is not None and row.status == "stale" and row.depth_url is None
    assert portal.status_counts()["stale"] == 1 and portal.status_counts()["published"] == 2
    assert [r.id for r in portal.list_users(Query(statuses=["stale"]))] == ["u00001"]
    assert "photos changed in place: 1 (u00001)" in found.lines()[0]


def test_the_next_run_queues_the_stale_user_and_its_new_map_is_current(db_url, tmp_path):
    with PhotoServer().serving() as host:
        portal = _published(db_url, tmp_path, host, n=2)
        host.put("/avatars/u0.png", _png(9), modified=OLD + 100)
        assert revalidate(portal, portal.config).changed == ["u00000"]
        again = GenerateMissingJob(portal, SyntheticBackend(), None, portal.config, publish=False).run()
        assert again.progress.outcomes == {"generated": 1}, again.line()
        assert portal.get_user("u00000").status == "generated"  # type: ignore[union-attr]
        assert revalidate(portal, portal.config).changed == []  # the new map is of the new photo


def test_a_photo_checked_lately_is_not_asked_again_and_an_unreachable_one_stays_as_it_was(db_url, tmp_path):
    with PhotoServer().serving() as host:
        portal = _published(db_url, tmp_path, host, n=2)
        assert revalidate(portal, portal.config).checked == 2
        host.requests.clear()
        assert revalidate(portal, portal.config).checked == 0 and host.requests == []  # within revalidate_after_s
        portal.config.fetch.revalidate_after_s = 0
        del host.photos["/avatars/u1.png"]  # gone (404): not a change of content, and not ours to judge here
        found = revalidate(portal, portal.config)
    assert found.changed == [] and found.unreachable == {"http_status": 1}
    assert portal.get_user("u00001").status == "published"  # type: ignore[union-attr]


def test_the_rate_is_bounded(db_url, tmp_path):
    with PhotoServer().serving() as host:
        portal = _published(db_url, tmp_path, host, n=6)
        portal.config.fetch.revalidate_per_s = 10.0
        started = time.monotonic()
        found = revalidate(portal, portal.config)
        elapsed = time.monotonic() - started
    assert found.checked == 6 and elapsed >= 0.5  # six starts 0.1 s apart: a lower bound, never flaky


def test_a_publish_that_finds_the_photo_changed_leaves_the_user_stale_not_approved(db_url, tmp_path):
    with PhotoServer().serving() as host:
        url = host.put("/avatars/u0.png", _png(1), modified=OLD)
        make_portal(db_url, [url])
        cfg = portal_config(db_url, tmp_path)
        portal = Portal.open(cfg)
        assert GenerateMissingJob(portal, SyntheticBackend(), None, cfg, publish=False).run().ok
        portal.decide(["u00000"], "approved", reviewer="ed")
        host.put("/avatars/u0.png", _png(2), modified=OLD + 100)
        out = publish_result(portal, LocalDirectoryStore(tmp_path / "store"), portal.get_user("u00000").result_id)
    assert out.outcome == STALE
    assert portal.get_user("u00000").status == "stale"  # type: ignore[union-attr]
    assert GenerateMissingJob(portal, SyntheticBackend(), None, cfg).plan() == [("u00000", url)]


def test_the_first_revalidation_after_a_generation_asks_with_the_validators_stored_with_the_map(db_url, tmp_path):
    """The validators the generation's fetch saw are stored with the result: a later process (none seen in memory)
    asks conditionally and gets 304s, no photo downloaded again."""
    with PhotoServer().serving() as host:
        portal = _published(db_url, tmp_path, host, n=2)  # (the in-memory validators are cleared: a new process)
        found = revalidate(portal, portal.config)
        asked = [(r.if_none_match is not None, r.status) for r in host.requests]
    assert (found.checked, found.changed) == (2, [])
    assert asked == [(True, 304), (True, 304)]
