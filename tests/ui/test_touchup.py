"""The touch-up panel in the real studio window: live, non-destructive, saved as a new reviewable result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from depthstudio.render.result_plates import stored_layers
from depthstudio.render.touchup import TOUCHUP_KEY
from depthstudio.ui.user_list_model import ROW_ROLE

NOTES = Path("/work/notes")


def _settled(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: not window.model.busy and not window.tasks.pending and not window.writes.pending, timeout=5000
    )


def _select_single_result_user(qtbot, window, seeded):
    rows = [window.model.index(i).data(ROW_ROLE) for i in range(window.model.rowCount())]
    index = next(i for i, r in enumerate(rows) if r.id == seeded[1])
    window.list.setCurrentIndex(window.model.index(index))
    qtbot.waitUntil(
        lambda: window.preview.content is not None and window.preview.content.depth is not None, timeout=10000
    )
    return rows[index]


def _open_panel(qtbot, make_window, seeded):
    """The window on a user with one result awaiting review, and the touch-up panel open on it."""
    window = make_window()
    window.filter_buttons["generated"].click()
    _settled(qtbot, window)
    row = _select_single_result_user(qtbot, window, seeded)
    stored = window.preview.content
    window.touch_up()
    panel = window.touchup_panel
    qtbot.waitUntil(lambda: panel._source is not None, timeout=5000)
    return window, row, stored, panel


def test_touch_up_previews_live_saves_a_new_result_and_it_is_reviewed_like_any(qtbot, make_window, seeded, portal):
    window, row, stored, panel = _open_panel(qtbot, make_window, seeded)
    before = [r.id for r in portal.results_for_user(row.id)]
    panel.dilate.setValue(6)
    panel.contrast.setValue(1.5)
    panel.matte_threshold.setValue(0.6)
    qtbot.waitUntil(lambda: panel.save_button.isEnabled(), timeout=10000)
    live = window.preview.content
    assert live is not None and live.layers is not None
    assert (0, "touch-up preview (not saved)") in window.preview.captions()  # said over the 3D view
    assert live.depth is not None and stored.depth is not None
    assert (live.depth.astype(int) - stored.depth.astype(int)).mean() > 2  # dilated and stretched: nearer
    assert [r.id for r in portal.results_for_user(row.id)] == before  # nothing written while previewing
    qtbot.waitUntil(lambda: window.preview.isVisible(), timeout=2000)
    if NOTES.is_dir():
        window.grab().save(str(NOTES / "14-touchup.png"))
        panel.grab().save(str(NOTES / "14-touchup-panel.png"))

    panel.reset()  # back to the stored result, live too
    qtbot.waitUntil(lambda: window.preview.content is stored, timeout=5000)
    assert not panel.save_button.isEnabled()

    panel.dilate.setValue(6)
    panel.contrast.setValue(1.5)
    qtbot.waitUntil(lambda: panel.save_button.isEnabled(), timeout=10000)
    panel.save_button.click()
    qtbot.waitUntil(lambda: panel.new_result_id is not None, timeout=10000)
    new_id = panel.new_result_id
    new = portal.result(new_id)
    assert new is not None and new.id not in before
    assert new.postprocess is not None and new.postprocess["from_result"] == before[-1]
    assert new.postprocess[TOUCHUP_KEY]["dilate_px"] == 6 and new.postprocess[TOUCHUP_KEY]["contrast"] == 1.5
    assert stored_layers(portal, new_id) is not None
    assert portal.get_user(row.id).result_id == new_id and portal.get_user(row.id).status == "generated"
    qtbot.waitUntil(lambda: window.current is not None and window.current.result_id == new_id, timeout=5000)
    panel.close()

    # Reviewed like any other result: the editor's key approves the touched-up map.
    qtbot.waitUntil(
        lambda: window.preview.content is not None and window.preview.content.depth is not None, timeout=10000
    )
    assert np.abs(window.preview.content.depth.astype(int) - stored.depth.astype(int)).mean() > 2
    window.activateWindow()  # the closed panel had the focus; the review keys reach the active window
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.list.setFocus()
    qtbot.keyClick(window.list, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: portal.get_user(row.id).decision == "approved", timeout=5000)
    assert portal.get_user(row.id).result_id == new_id


def test_closing_the_panel_unsaved_puts_the_stored_result_back(qtbot, make_window, seeded, portal):
    window, row, stored, panel = _open_panel(qtbot, make_window, seeded)
    panel.invert.setChecked(True)
    qtbot.waitUntil(lambda: panel.save_button.isEnabled(), timeout=10000)
    assert window.preview.content is not stored
    panel.close()
    assert window.preview.content is stored
    assert len(portal.results_for_user(row.id)) == 1


def test_touch_up_without_a_result_says_why(qtbot, make_window, portal):
    window = make_window()
    _settled(qtbot, window)
    rows = [window.model.index(i).data(ROW_ROLE) for i in range(window.model.rowCount())]
    index = next(i for i, r in enumerate(rows) if r.result_id is None)
    window.list.setCurrentIndex(window.model.index(index))
    qtbot.waitUntil(lambda: window.current is not None and window.current.id == rows[index].id, timeout=5000)
    window.touch_up()
    assert getattr(window, "touchup_panel", None) is None
