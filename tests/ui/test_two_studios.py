"""Two studios open on one portal (PostgreSQL: LISTEN/NOTIFY; SQLite: the poll) see each other's decisions, new
results and publishes without a reload, and keep their selection and scroll position. The time to show is
printed (median), not asserted."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from depthstudio.config import Config, PortalConfig
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.publish import publish_result
from depthstudio.portal.repository import Portal
from depthstudio.storage.folder_store import LocalDirectoryStore
from tests.helpers import make_portal, write_avatars
from tests.ui.conftest import CROP, seed_result

USERS = 40  # more than the list shows at once, so that the second studio can be scrolled


def _config(url: str) -> Config:
    cfg = Config(portal=PortalConfig(url=url))
    cfg.fetch.crop_size = CROP
    cfg.fetch.allow_local_paths = True
    cfg.studio.reviewer = "editor"
    return cfg


def _studio(qtbot, portal: Portal):
    from depthstudio.ui.main_window import MainWindow

    window = MainWindow(portal, portal.config, backend_factory=lambda _cfg: SyntheticBackend())
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and not window.model.busy, timeout=20000)
    return window


def _status(window, user_id: str) -> str | None:
    index = window.model.index_of(user_id)
    return window.model.row_at(index.row()).status if index.isValid() else None


def _settled(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: not window.model.busy and not window.tasks.pending and not window.writes.pending, timeout=10000
    )


def test_two_studios_on_one_portal_see_each_others_changes(qtbot, db_url, tmp_path: Path):
    make_portal(db_url, write_avatars(tmp_path / "avatars", USERS, size=64))
    portals = [Portal.open(_config(db_url)) for _ in range(3)]  # studio A, studio B, a worker/publisher elsewhere
    a_portal, b_portal, elsewhere = portals
    ids = [f"u{i:05d}" for i in range(USERS)]
    for uid in ids:
        seed_result(elsewhere, uid)
    a, b = _studio(qtbot, a_portal), _studio(qtbot, b_portal)
    try:
        while b.model.canFetchMore():  # every row loaded in B, then scrolled down and the last user selected
            b.model.fetchMore()
            _settled(qtbot, b)
        watched = ids[-1]
        b.list.setCurrentIndex(b.model.index_of(watched))
        qtbot.waitUntil(lambda: b.current is not None and b.current.id == watched, timeout=5000)
        _settled(qtbot, b)
        scroll = b.list.verticalScrollBar().value()
        assert scroll > 0

        times = []
        for uid in ids[:5]:  # decisions in A appear in B
            a.list.setCurrentIndex(a.model.index_of(uid))
            qtbot.waitUntil(lambda u=uid: a.current is not None and a.current.id == u, timeout=5000)
            start = time.perf_counter()
            a.decide("approved")
            qtbot.waitUntil(lambda u=uid: _status(b, u) == "approved", timeout=10000)
            times.append(time.perf_counter() - start)
        print(f"\ntime to show a decision in the other studio: median {statistics.median(times) * 1000:.0f} ms "
              f"over {len(times)} (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")  # fmt: skip

        old = b.current.result_id  # a new result made elsewhere for the user B is looking at
        new = seed_result(elsewhere, watched, backend="synthetic-b")
        qtbot.waitUntil(lambda: b.current is not None and b.current.result_id == new != old, timeout=10000)

        rid = a.model.row_at(a.model.index_of(ids[0]).row()).result_id  # a publish elsewhere
        out = publish_result(elsewhere, LocalDirectoryStore(tmp_path / "store"), rid)
        assert out.outcome == "published"
        qtbot.waitUntil(lambda: _status(b, ids[0]) == "published" and _status(a, ids[0]) == "published", timeout=10000)
        qtbot.waitUntil(lambda: b.filter_buttons["approved"].text().endswith("  4"), timeout=10000)  # counts too

        _settled(qtbot, b)
        assert b.current is not None and b.current.id == watched  # B's editor lost nothing
        assert b.list.currentIndex() == b.model.index_of(watched)
        assert b.list.verticalScrollBar().value() == scroll
    finally:
        for w in (a, b):
            w.close()
        for p in portals:
            p.close()
