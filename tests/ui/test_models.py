"""The list model pages lazily over the repository; thumbnails decode off the GUI thread into an LRU cache."""

from __future__ import annotations

import threading

import pytest

from depthstudio.imaging import FetchPolicy
from depthstudio.portal.repository import Portal, Query
from depthstudio.studio import photos
from depthstudio.ui.user_list_model import ThumbnailCache, UserListModel
from tests.helpers import make_portal, portal_config, write_avatars
from tests.ui.conftest import seed_result

FILES = FetchPolicy(allow_local_paths=True)  # the test photos are files


def test_model_fetches_pages_on_demand_and_counts_separately(qtbot, tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(url, [f"file:///nowhere/{i}.png" for i in range(1050)])
    portal = Portal.open(portal_config(url, tmp_path))
    model = UserListModel(portal, page_size=100)
    with qtbot.waitSignal(model.counted, timeout=10000) as counted:
        model.set_query(Query(sort="name"))
    assert counted.args == [1050] and model.rowCount() == 100 and model.canFetchMore()
    while model.canFetchMore() or model.busy:
        if model.canFetchMore():
            model.fetchMore()
        qtbot.waitUntil(lambda: not model.busy, timeout=10000)
    ids = [model.row_at(i).id for i in range(model.rowCount())]
    assert len(ids) == 1050 == len(set(ids))
    assert [model.row_at(i).name for i in range(3)] == ["User 00000", "User 00001", "User 00002"]
    model.set_query(Query(search="User 0104"))
    qtbot.waitUntil(lambda: model.total == 10 and not model.busy, timeout=10000)
    assert model.rowCount() == 10 and not model.canFetchMore()
    portal.close()


def test_thumbnails_decode_off_the_gui_thread_and_are_evicted_lru(qtbot, tmp_path, monkeypatch):
    urls = write_avatars(tmp_path / "avatars", 3, size=64)
    threads: list[str] = []
    decode = photos.thumbnail
    monkeypatch.setattr(photos, "thumbnail", lambda *a: threads.append(threading.current_thread().name) or decode(*a))
    cache = ThumbnailCache(size=32, capacity=2, policy=FILES)
    assert cache.get(urls[0]) is None
    with qtbot.waitSignal(cache.ready, timeout=5000):
        pass
    image = cache.get(urls[0])
    assert image is not None and (image.width(), image.height()) == (32, 32)
    assert threading.main_thread().name not in threads
    for url in urls[1:]:
        with qtbot.waitSignal(cache.ready, timeout=5000):
            cache.get(url)
    assert cache.get(urls[1]) is not None and cache.get(urls[2]) is not None
    assert cache.get(urls[0]) is None, "the least recently used thumbnail was evicted and is loading again"
    with qtbot.waitSignal(cache.ready, timeout=5000):
        pass
    assert len(threads) == 4


def test_unreadable_photo_thumbnail_is_not_retried(qtbot, tmp_path):
    cache = ThumbnailCache(size=32, policy=FILES)
    missing = (tmp_path / "gone.png").as_uri()
    with qtbot.waitSignal(cache.ready, timeout=5000):
        assert cache.get(missing) is None
    with qtbot.assertNotEmitted(cache.ready, wait=300):
        assert cache.get(missing) is None


def test_thumbnails_follow_the_display_crop_setting(qtbot, tmp_path):
    """A 2:1 photo: letterboxed (transparent corners) with ``none``; after the setting becomes ``square`` and the
    cache is cleared, the row gets the centred square (opaque corners), and a load framed the old way is dropped."""
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.new("RGB", (200, 100), (200, 30, 30)).save(path)
    setting = {"crop": "none"}
    cache = ThumbnailCache(size=32, policy=FILES, display_crop=lambda: setting["crop"])
    with qtbot.waitSignal(cache.ready, timeout=5000):
        assert cache.get(path.as_uri()) is None
    letterboxed = cache.get(path.as_uri())
    assert letterboxed.pixelColor(16, 1).alpha() == 0 and letterboxed.pixelColor(16, 16).alpha() == 255

    cache.clear()
    cache.get(path.as_uri())  # a load framed "none" is in flight when the setting changes
    setting["crop"] = "square"
    cache.clear()
    with qtbot.waitSignal(cache.ready, timeout=5000):
        assert cache.get(path.as_uri()) is None
    qtbot.waitUntil(lambda: cache.get(path.as_uri()) is not None and not cache._loading, timeout=5000)
    square = cache.get(path.as_uri())
    assert square.pixelColor(16, 1).alpha() == 255 and square.pixelColor(16, 1).red() > 150


@pytest.mark.parametrize(
    ("statuses", "sort"),
    [(("generated",), "name"), (("generated",), "recent"), (("generated",), "risk"), ((), "attention")],
)
def test_decisions_while_paging_neither_skip_nor_repeat_users(qtbot, portal, statuses, sort):
    """Decided rows stay on screen but leave the filter (or move down the sort): the next pages still list all."""
    users = [r.id for r in portal.list_users(Query(), limit=100) if r.avatar][:8]
    for i, uid in enumerate(users):
        seed_result(portal, uid, qa_risk=0.1 + i / 100)
    query = Query(statuses=statuses, sort=sort)
    expected = [r.id for r in portal.list_users(query, limit=1000)]
    model = UserListModel(portal, page_size=3)
    model.set_query(query)
    qtbot.waitUntil(lambda: model.rowCount() == 3 and not model.busy, timeout=5000)

    first = [model.row_at(i).id for i in range(2)]
    portal.decide(first, "approved", reviewer="t")
    model.refresh_users(first)
    qtbot.waitUntil(lambda: not model.busy, timeout=5000)
    model.fetchMore()
    qtbot.waitUntil(lambda: not model.busy, timeout=5000)
    # A decision lands while the next page is being read: that page's offset is already off by one.
    later = model.row_at(model.rowCount() - 1).id
    portal.decide([later], "rejected", reviewer="t")
    model.fetchMore()
    model.refresh_users([later])
    qtbot.waitUntil(lambda: not model.busy, timeout=5000)
    while model.canFetchMore():
        model.fetchMore()
        qtbot.waitUntil(lambda: not model.busy, timeout=5000)

    shown = [model.row_at(i).id for i in range(model.rowCount())]
    assert len(shown) == len(set(shown))
    assert set(expected) <= set(shown), f"never listed: {set(expected) - set(shown)}"


def test_a_page_of_rows_already_shown_does_not_stall_paging(qtbot, portal):
    model = UserListModel(portal, page_size=2)
    model.set_query(Query(sort="name"))
    qtbot.waitUntil(lambda: model.rowCount() == 2 and not model.busy, timeout=5000)
    for _ in range(2):
        model.fetchMore()
        qtbot.waitUntil(lambda: not model.busy, timeout=5000)
    assert model.rowCount() == 6
    model.expect_changes([model.row_at(i).id for i in range(6)])  # steps back to offset 0: three pages of repeats
    model.fetchMore()
    qtbot.waitUntil(lambda: not model.busy, timeout=5000)
    shown = [model.row_at(i).id for i in range(model.rowCount())]
    assert shown == [r.id for r in portal.list_users(Query(sort="name"), limit=8)]
