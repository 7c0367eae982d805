"""Screenshots of the second-pass studio (artifacts/screenshots, git-ignored): looked at, not compared.

First open with the pointer moving over a demo sample, the shortcut overlay, the publish confirmation, hostile
names shown as plain text. Each check asserts the picture shows what it is for (a dialog on top, a moved frame).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import update

from tests.ui.conftest import require_gl
from tests.ui.test_screenshots import OUT, _demo_state, _save, _show


def _save_screen(name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    assert QApplication.primaryScreen().grabWindow(0).save(str(OUT / name))


def test_screenshots_of_the_review_loop(qtbot, make_window, portal):
    ids = _demo_state(portal)
    table = portal.users.table
    others = [r for r in portal.list_users(limit=100) if r.avatar and r.id not in ids.values()]
    with portal.engine.begin() as conn:
        for row, name in zip(others[-2:], ("<b>bold?</b> \u202eevil.exe", "Sam Lee"), strict=True):
            conn.execute(update(table).where(table.c.id == row.id).values({portal.users.name.name: name}))
        conn.execute(update(table).where(table.c.id == others[-3].id).values({portal.users.name.name: "Sam Lee"}))
    window = make_window()
    require_gl(window)
    _show(qtbot, window, ids["Grace Hopper"], (0.0, 0.0))
    preview = window.preview
    still = preview.frame_rgb()
    qtbot.mouseMove(preview, QPoint(preview.width() // 8, preview.height() // 3))
    qtbot.waitUntil(lambda: abs(preview.pointer.mouse_x) > 0.4, timeout=5000)
    assert np.abs(preview.frame_rgb().astype(int) - still).mean() > 1.0, "the pointer moved the picture"
    _save(window, "review-first-open.png")

    qtbot.keyClick(window.list, "?")
    qtbot.waitUntil(lambda: getattr(window, "shortcut_overlay", None) is not None, timeout=2000)
    qtbot.waitExposed(window.shortcut_overlay)
    qtbot.wait(300)  # the window manager-less Xvfb maps it a moment after exposure
    _save_screen("review-shortcuts.png")
    window.shortcut_overlay.close()

    def grab_and_cancel() -> None:
        _save_screen("review-publish.png")
        QApplication.activeModalWidget().reject()

    QTimer.singleShot(300, grab_and_cancel)
    window.bulk.publish_button.click()
    assert (OUT / "review-publish.png").exists()

    window.search.setText("e")
    window.apply_query()
    qtbot.waitUntil(lambda: not window.model.busy, timeout=5000)
    _show(qtbot, window, others[-2].id, (0.3, 0.0))
    _save(window, "review-hostile-names.png")
