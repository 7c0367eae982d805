"""The studio re-validates photos as a cron run does: a photo the portal overwrote in place (same URL, new bytes)
shows as Stale in the studio, found by conditional requests to a real photo host on 127.0.0.1, off the GUI
thread."""

from __future__ import annotations

import threading
from pathlib import Path

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.photo_check import revalidate
from tests.servers.photo_server import PhotoServer
from tests.test_revalidate import OLD, _png, _published


def _status(window, user_id: str) -> str | None:
    index = window.model.index_of(user_id)
    return window.model.row_at(index.row()).status if index.isValid() else None


def test_a_photo_overwritten_in_place_shows_as_stale_in_the_studio(qtbot, tmp_path: Path):
    from depthstudio.ui.main_window import MainWindow

    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    with PhotoServer().serving() as host:
        portal = _published(db, tmp_path, host, n=3)
        assert revalidate(portal, portal.config).changed == []  # last night's run: every photo checked
        host.put("/avatars/u1.png", _png(7), modified=OLD + 100)  # then the portal overwrote one in place
        portal.config.fetch.revalidate_after_s = 0
        host.requests.clear()

        window = MainWindow(portal, portal.config, backend_factory=lambda _cfg: SyntheticBackend())
        passes: list[bool] = []  # connected before any event runs: the first pass starts after the first user shows
        window.revalidation.ended.connect(lambda: passes.append(True))
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        qtbot.waitExposed(window)
        qtbot.waitUntil(lambda: window.model.rowCount() > 0 and not window.model.busy, timeout=20000)
        assert _status(window, "u00001") == "published"  # what the studio showed before this change
        qtbot.waitUntil(lambda: len(passes) >= 1, timeout=20000)
        qtbot.waitUntil(lambda: _status(window, "u00001") == "stale", timeout=10000)
        qtbot.waitUntil(lambda: window.counts.get("stale") == 1, timeout=10000)
        # The re-validation's requests are the conditional ones (the list's thumbnails are plain GETs).
        asked = sorted((r.path, r.status) for r in host.requests if r.if_none_match is not None)
        thread = window.revalidation._thread
        window.grab().save(str(tmp_path / "studio-stale.png"))
        window.close()
    assert asked == [("/avatars/u0.png", 304), ("/avatars/u1.png", 200), ("/avatars/u2.png", 304)]
    assert thread is not None and thread.ident != threading.get_ident()  # a thread of its own, not the GUI's
    assert [_status(window, u) for u in ("u00000", "u00002")] == ["published", "published"]
    assert "Stale  1" in window.filter_buttons["stale"].text()
