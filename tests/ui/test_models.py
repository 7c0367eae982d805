"""The list model pages lazily over the repository; thumbnails decode off the GUI thread into an LRU cache."""

from __future__ import annotations

import threading

from depthstudio.portal.repository import Portal, Query
from depthstudio.ui import photos
from depthstudio.ui.models import ThumbnailCache, UserListModel
from tests.helpers import make_portal, portal_config, write_avatars


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
    monkeypatch.setattr(
        photos, "thumbnail", lambda *a: threads.append(threading.current_thread().name) or decode(*a)
    )
    cache = ThumbnailCache(size=32, capacity=2)
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
    cache = ThumbnailCache(size=32)
    missing = (tmp_path / "gone.png").as_uri()
    with qtbot.waitSignal(cache.ready, timeout=5000):
        assert cache.get(missing) is None
    with qtbot.assertNotEmitted(cache.ready, wait=300):
        assert cache.get(missing) is None
