"""The culling grid: many avatars in one GL context, moving with the pointer, culled from the keyboard.

In its own module: GL tests that run after some other modules' windows lose their context (see prev14).
Pixels are compared with the numpy reference renderer, as tests/test_render_gl.py does for one avatar.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent, QPainter
from PySide6.QtOpenGLWidgets import QOpenGLWidget

from depthstudio.depth.qa import Check, QAReport
from depthstudio.portal.repository import Query
from depthstudio.render.reference import render_float, to_uint8
from depthstudio.ui.culling import LABEL_H, tile_key
from tests.ui.conftest import require_gl, seed_result

pytestmark = pytest.mark.gl


@pytest.fixture
def many(portal) -> list[str]:
    """Every demo user with a photo gets a result awaiting review (the demo has a dozen or so)."""
    ids = [r.id for r in portal.list_users(Query(), limit=100) if r.avatar]
    for uid in ids:
        seed_result(portal, uid)
    return ids


def _grid_window(qtbot, make_window):
    window = make_window()
    window.toggle_grid()
    grid = window.culling.grid
    qtbot.waitUntil(lambda: grid.isVisible() and grid.isValid(), timeout=5000)
    if grid.gl_error or not grid.isValid():
        require_gl(window)
        pytest.fail(grid.gl_error or "no GL context for the grid")
    qtbot.waitUntil(lambda: _all_loaded(grid), timeout=20000)
    return window, grid


def _all_loaded(grid) -> bool:
    grid.update()
    rows = [grid.model.row_at(i) for i in grid.visible_rows()]
    return (
        bool(rows)
        and all(grid.content_of(r) is not None or not r.avatar or tile_key(r) in grid.failures for r in rows)
        and grid.pending == 0
    )


def _frame(grid) -> np.ndarray:
    image = grid.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes()).reshape(
        image.height(), image.bytesPerLine()
    )
    return arr[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def _tile_pixels(grid, frame: np.ndarray, row: int) -> np.ndarray:
    r = grid.tile_rect(row)
    return frame[r.y() : r.y() + r.height(), r.x() : r.x() + r.width()]


def test_the_grid_shows_each_user_through_the_shared_shader(qtbot, make_window, many):
    _, grid = _grid_window(qtbot, make_window)
    grid.set_mouse((0.6, -0.4))
    frame = _frame(grid)
    checked = 0
    for i in list(grid.visible_rows())[:4]:
        row = grid.model.row_at(i)
        content = grid.content_of(row)
        assert content is not None and content.moving
        r = grid.tile_rect(i)
        expected = to_uint8(render_float(content.textures, grid.params, (0.6, -0.4), r.width(), r.height()))[..., :3]
        got = _tile_pixels(grid, frame, i).astype(int)
        diff = np.abs(got - expected.astype(int))
        assert diff.max() <= 3, f"tile {i} differs from the reference by {diff.max()} levels"
        assert (diff > 1).mean() < 0.01
        checked += 1
    assert checked == 4


def test_one_gl_context_draws_every_tile(qtbot, make_window, many):
    window, grid = _grid_window(qtbot, make_window)
    assert window.culling.findChildren(QOpenGLWidget) == [grid]
    _frame(grid)  # a frame drawn after the last tile arrived
    shown = [grid.model.row_at(i) for i in grid.visible_rows()]
    assert grid.renderer is not None
    assert grid.renderer.tile_count == sum(1 for r in shown if r.avatar) >= 6


def test_every_tile_moves_with_the_pointer_and_the_clock_stops_when_still(qtbot, make_window, many):
    _, grid = _grid_window(qtbot, make_window)
    grid.set_mouse((0.0, 0.0))
    still = _frame(grid)
    qtbot.waitUntil(lambda: not grid.animating, timeout=3000)
    event = QMouseEvent(
        QMouseEvent.Type.MouseMove,
        QPointF(2.0, 2.0),
        QPointF(grid.mapToGlobal(QPoint(2, 2))),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    grid.mouseMoveEvent(event)
    assert grid.animating
    qtbot.waitUntil(lambda: abs(grid.pointer.mouse_x) > 0.3, timeout=5000)
    moved = _frame(grid)
    for i in list(grid.visible_rows())[:6]:
        a, b = _tile_pixels(grid, still, i), _tile_pixels(grid, moved, i)
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0, f"tile {i} did not move"
    qtbot.waitUntil(lambda: not grid.animating, timeout=10000)  # settled: no more frames


def test_arrows_move_and_shift_extends_and_a_approves_the_selection(qtbot, make_window, portal, many):
    window, grid = _grid_window(qtbot, make_window)
    grid.setFocus()
    grid.go_to(0)
    qtbot.keyClick(grid, Qt.Key.Key_Right)
    assert window.list.currentIndex().row() == 1
    qtbot.keyClick(grid, Qt.Key.Key_Down)
    assert window.list.currentIndex().row() == 1 + grid.columns
    qtbot.keyClick(grid, Qt.Key.Key_Up)
    qtbot.keyClick(grid, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(grid, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    chosen = [window.model.row_at(i).id for i in (1, 2, 3)]
    assert sorted(window.selected_ids()) == sorted(chosen)
    qtbot.keyClick(grid, Qt.Key.Key_A)  # the window's Approve action, on the grid's selection
    qtbot.waitUntil(lambda: all(portal.get_user(u).status == "approved" for u in chosen), timeout=5000)
    others = [u for u in many if u not in chosen]
    assert all(portal.get_user(u).status == "generated" for u in others)


def test_the_grid_follows_the_list_filters_and_search(qtbot, make_window, portal, many):
    window, grid = _grid_window(qtbot, make_window)
    portal.decide([many[0]], "rejected", reviewer="t")
    window.set_filter("rejected")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1 and not window.model.busy, timeout=5000)
    assert [window.model.row_at(i).id for i in grid.visible_rows()] == [many[0]]
    window.set_filter("all")
    name = portal.get_user(many[1]).name
    window.search.setText(name)
    window.apply_query()
    qtbot.waitUntil(lambda: not window.model.busy and window.model.rowCount() >= 1, timeout=5000)
    shown = [window.model.row_at(i).name for i in grid.visible_rows()]
    assert shown and all(name.lower() in (n or "").lower() for n in shown)


def test_the_metadata_panel_says_photo_source_model_time_and_qa(qtbot, make_window, portal, many):
    window, grid = _grid_window(qtbot, make_window)
    grid.go_to(0)
    row = window.model.row_at(0)
    qtbot.waitUntil(lambda: "px" in window.culling.metadata.text()["Photo"], timeout=5000)
    facts = window.culling.metadata.text()
    content = grid.content_of(row)
    assert facts["Photo"].startswith(f"{content.photo.width} x {content.photo.height} px")
    assert content.photo.format in facts["Photo"]
    assert facts["Source"] == row.avatar
    assert f"{row.backend} / {row.model}" in facts["Depth map"]
    assert facts["Made"] == f"{row.result_created_at:%Y-%m-%d %H:%M} UTC"
    assert facts["QA risk"] == f"{row.qa_risk:.2f}"


def test_the_metadata_panel_shows_qa_scores_one_check_a_line_with_the_flagged_marked(qtbot, make_window, portal):
    report = QAReport({"empty": Check(0.0, 0.01), "flat": Check(0.12, 0.3), "inverted": Check(0.81, 0.7)})
    uid = next(r.id for r in portal.list_users(Query(), limit=100) if r.avatar)
    seed_result(portal, uid, qa=report.to_dict(), qa_risk=report.risk)
    window, grid = _grid_window(qtbot, make_window)
    grid.go_to(window.model.index_of(uid).row())
    qtbot.waitUntil(lambda: window.culling.metadata.text()["QA scores"] not in ("", "—"), timeout=5000)
    scores = window.culling.metadata.text()["QA scores"]
    assert scores.splitlines() == ["empty: 0.00", "flat: 0.12", "inverted: 0.81  ⚑ flagged"]
    assert "{" not in scores and "checks" not in scores, "no raw dict"
    label = window.culling.metadata.values["QA scores"]
    assert label.height() >= 3 * label.fontMetrics().lineSpacing(), "three lines, all shown"


def test_return_opens_the_loupe_and_plus_zooms_into_the_pointer(qtbot, make_window, many):
    _, grid = _grid_window(qtbot, make_window)
    grid.setFocus()
    grid.go_to(0)
    grid.set_mouse((0.0, 0.0))
    qtbot.keyClick(grid, Qt.Key.Key_Return)
    assert grid.loupe
    qtbot.waitUntil(lambda: grid.renderer is not None and _frame(grid) is not None, timeout=3000)
    r = grid.loupe_rect()
    whole = _frame(grid)[r.y() : r.bottom(), r.x() : r.right()]
    qtbot.keyClick(grid, Qt.Key.Key_Plus)
    assert grid.zoom == 2.0
    zoomed = _frame(grid)[r.y() : r.bottom(), r.x() : r.right()]
    # The centre half of the whole picture, doubled, is what the zoomed loupe shows.
    h, w = whole.shape[:2]
    centre = whole[h // 4 : h // 4 + h // 2, w // 4 : w // 4 + w // 2].astype(float)
    shrunk = zoomed[::2, ::2][: centre.shape[0], : centre.shape[1]].astype(float)
    assert np.abs(centre[: shrunk.shape[0], : shrunk.shape[1]] - shrunk).mean() < 12
    assert np.abs(whole.astype(float) - zoomed.astype(float)).mean() > 3
    qtbot.keyClick(grid, Qt.Key.Key_Escape)
    assert not grid.loupe


def test_ctrl_g_in_the_view_menu_switches_between_single_and_grid(qtbot, make_window, many):
    window = make_window()
    actions = {text: keys for menu, text, keys in window.shortcut_table() if menu == "View"}
    assert actions["Culling grid / single view"] == "Ctrl+G"
    assert window.center_stack.currentWidget() is not window.culling
    qtbot.keyClick(window.list, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.center_stack.currentWidget() is window.culling
    qtbot.keyClick(window.culling.grid, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.center_stack.currentWidget() is not window.culling


def test_screenshot_of_the_culling_grid(qtbot, make_window, portal):
    from tests.ui.test_screenshots import OUT, _demo_state

    ids = _demo_state(portal)
    window, grid = _grid_window(qtbot, make_window)
    grid.go_to(window.model.index_of(ids["Grace Hopper"]).row())
    grid.go_to(window.model.index_of(ids["Eileen Collins"]).row(), toggle=True)
    qtbot.waitUntil(lambda: _all_loaded(grid), timeout=20000)
    grid.set_mouse((0.8, -0.4))
    qtbot.waitUntil(lambda: "px" in window.culling.metadata.text()["Photo"], timeout=5000)
    # QWidget.grab() leaves out what QPainter drew into a QOpenGLWidget: lay the grid's own frame over it.
    shot = window.grab()
    painter = QPainter(shot)
    painter.drawImage(grid.mapTo(window, QPoint(0, 0)), grid.grabFramebuffer())
    painter.end()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "culling-grid.png"
    assert shot.save(str(path), "PNG")
    frame = _frame(grid)
    label = grid.tile_rect(0).adjusted(0, grid.tile_rect(0).height() + 8, 0, LABEL_H)
    text = frame[label.y() : label.y() + 12, label.x() : label.x() + 60]
    assert text.max() > 200, "the names under the tiles are drawn"
