"""The studio's list thumbnails come from the on-disk cache: a restarted studio fetches no photo again."""

from __future__ import annotations

import io

from depthstudio.imaging.types import FetchPolicy
from depthstudio.portal.demo import placeholder_avatar
from depthstudio.ui.user_list_model import ThumbnailCache
from tests.servers.http_files import FileServer


def test_a_second_studio_shows_the_thumbnail_without_fetching_the_photo(qtbot):
    buffer = io.BytesIO()
    placeholder_avatar(4, size=600).save(buffer, "PNG")
    policy = FetchPolicy(allow_private=True, timeout_s=5.0)
    with FileServer().serving() as server:
        url = server.add("/big.png", body=buffer.getvalue(), content_type="image/png")
        for _ in range(2):  # two caches: the in-memory LRU of the first is gone, as after a restart
            cache = ThumbnailCache(size=48, policy=policy)
            with qtbot.waitSignal(cache.ready, timeout=10000):
                assert cache.get(url) is None
            image = cache.get(url)
            assert image is not None and (image.width(), image.height()) == (48, 48)
        assert server.requests_for("/big.png") == 1
