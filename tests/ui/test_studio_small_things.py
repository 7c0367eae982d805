"""The studio's second pass, the rest: view choices that persist, the attention order, the 1:1 view, a layout that
stays put, the first open, messages that agree, undo of a publish and photo QA, all in the real window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QSlider
from sqlalchemy import update

from depthstudio.jobs.demo_results import seed_demo
from depthstudio.jobs.runner import Progress, Summary
from depthstudio.portal.repository import Portal, Query
from depthstudio.render.reference import prepare_textures, render_float, to_uint8
from depthstudio.studio import photos
from tests.ui.conftest import require_gl, seed_result
from tests.ui.test_failures_queue import fail_user


def _select(qtbot, window, user_id: str) -> None:
    window.list.setCurrentIndex(window.model.index_of(user_id))
    qtbot.waitUntil(lambda: window.preview.content is not None and window.current.id == user_id, timeout=5000)
    qtbot.waitUntil(lambda: not window.tasks.pending and not window.params.loading, timeout=5000)


def _ids(portal: Portal) -> dict[str, str]:
    return {r.name: r.id for r in portal.list_users(Query(), limit=500)}


def _set_avatar(portal: Portal, user_id: str, avatar: str) -> None:
    u = portal.users
    with portal.engine.begin() as conn:
        conn.execute(update(u.table).where(u.id == u.portal_id(user_id)).values({u.avatar.name: avatar}))


# --- (10) choices that persist, the attention order, messages ------------------------------------------------


def test_sort_and_view_choices_persist_into_the_next_session(qtbot, make_window, seeded):
    first = make_window()
    first.set_sort("attention")
    first.set_view("depth")
    first.close()
    second = make_window()
    assert second.sort == "attention" and second.sort_box.currentData() == "attention"
    assert second.model.query.sort == "attention"
    assert second.view_buttons["depth"].isChecked() and second.preview.mode == "depth"


def test_needs_attention_puts_failed_rejected_stale_and_flagged_users_first(qtbot, make_window, portal):
    users = [r.id for r in portal.list_users(Query(statuses=["missing"]), limit=6)]
    failed, rejected, stale, flagged, plain = users[:5]
    for uid in (rejected, stale, flagged, plain):
        seed_result(portal, uid, qa_risk=0.7 if uid == flagged else 0.1)
    portal.decide([rejected], "rejected", reviewer="ed")
    _set_avatar(portal, stale, portal.get_user(users[5]).avatar)  # a new photo after the map was made
    fail_user(portal, failed, "corrupt", "the file is damaged")
    window = make_window()
    window.set_sort("attention")
    qtbot.waitUntil(lambda: not window.model.busy and window.model.rowCount() > 5, timeout=10000)
    order = [window.model.row_at(i).id for i in range(5)]
    assert order == [failed, rejected, stale, flagged, plain]


def test_run_summaries_add_up_and_an_empty_run_says_nothing_to_do(qtbot, make_window):
    progress = Progress(total=29, done=29, failed=29, outcomes={"failed": 29, "retry": 58})
    line = Summary(progress, [], cancelled=False).line()
    assert line.startswith("29 users in ") and line.endswith(": 29 failed (58 retries)"), line
    assert "done" not in line
    window = make_window()
    with qtbot.waitSignal(window.bulk.stopped, timeout=20000) as stopped:
        window.bulk.generate([], title="Generate 0 selected")
    assert window.bulk.progress_bar.format() == "Generate 0 selected: nothing to do"
    assert stopped.args[1].startswith("nothing to do: ")  # and where the users stand (tests/ui/test_bulk.py)


# --- (10) the 1:1 view --------------------------------------------------------------------------------------------


def _wheel(widget, clicks: int) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        widget.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 120 * clicks),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_one_to_one_shows_the_photo_at_its_real_pixel_size_with_zoom_and_pan(qtbot, make_window, portal):
    eileen = _ids(portal)["Eileen Collins"]  # astronaut.png: 512 x 512, four times the 128 px preview maps
    seed_result(portal, eileen)
    window = make_window()
    require_gl(window)
    _select(qtbot, window, eileen)
    preview = window.preview
    preview.set_mouse((0.0, 0.0))  # no displacement: the frame is the photo itself
    assert preview.content.photo.size == (128, 128)
    window.zoom_button.click()
    qtbot.waitUntil(lambda: preview.scene_size == (512, 512), timeout=10000)
    native = photos.native_photo(portal.get_user(eileen).avatar, 128, 128, portal.config.fetch.policy())
    depth = np.asarray(Image.fromarray(preview.content.depth).resize(native.size, Image.Resampling.BILINEAR))
    truth = to_uint8(render_float(prepare_textures(native, depth), window.params.current(), (0.0, 0.0), 512, 512))
    truth = truth[..., :3].astype(np.int16)

    def patch(frame: np.ndarray, dx: int = 0, dy: int = 0, half: int = 40) -> np.ndarray:
        cy, cx = frame.shape[0] // 2 + dy, frame.shape[1] // 2 + dx
        return frame[cy - half : cy + half, cx - half : cx + half].astype(np.int16)

    def close(a: np.ndarray, b: np.ndarray) -> bool:
        return float(np.abs(a - b).mean()) < 1.0

    centre = truth[256 - 40 : 256 + 40, 256 - 40 : 256 + 40]
    assert close(patch(preview.frame_rgb()), centre), "1:1: one screen pixel per photo pixel"

    _wheel(preview, 1)
    assert preview.zoom == 2.0 and window.zoom_button.text() == "2:1"
    doubled = np.repeat(np.repeat(truth[256 - 20 : 256 + 20, 256 - 20 : 256 + 20], 2, axis=0), 2, axis=1)
    assert close(patch(preview.frame_rgb()), doubled), "zoomed in: each photo pixel is 2 x 2 screen pixels"
    _wheel(preview, -1)
    assert preview.zoom == 1.0 and window.zoom_button.text() == "1:1"

    start = QPoint(preview.width() // 2, preview.height() // 2)
    qtbot.mousePress(preview, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(preview, start + QPoint(30, 0))
    qtbot.mouseRelease(preview, Qt.MouseButton.LeftButton, pos=start + QPoint(30, 0))
    assert preview.pan == QPointF(30.0, 0.0)
    preview.set_mouse((0.0, 0.0))
    assert close(patch(preview.frame_rgb(), dx=30), centre), "panned: the photo moved with the drag"


# --- (5) a layout that never moves under the pointer --------------------------------------------------------------


def _slider_places(window) -> list[tuple[int, int, int, int]]:
    out = []
    for slider in window.params.findChildren(QSlider):
        top_left = slider.mapTo(window, QPoint(0, 0))
        out.append((top_left.x(), top_left.y(), slider.width(), slider.height()))
    return out


def test_no_slider_moves_when_the_hint_text_or_an_override_mark_changes(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, seeded[1])
    QApplication.processEvents()
    before = _slider_places(window)
    hints = {window.params.scope_hint.text()}
    window.params.global_button.click()  # another hint
    hints.add(window.params.scope_hint.text())
    QApplication.processEvents()
    assert _slider_places(window) == before
    window.params.user_button.click()
    row = window.params.rows["multiplier"]
    row.field.setValue(row.field.value() + row.spec.step * 3)  # an override: bold label with its mark
    qtbot.waitUntil(lambda: "•" in row.label.text(), timeout=5000)
    hints.add(window.params.scope_hint.text())
    QApplication.processEvents()
    assert len(hints) == 3 and _slider_places(window) == before


def test_the_window_fits_a_1366_laptop_and_never_resizes_itself(qtbot, make_window, seeded):
    window = make_window()
    assert window.minimumSizeHint().width() <= 1280
    window.resize(1280, 760)
    qtbot.waitUntil(lambda: window.width() == 1280, timeout=5000)
    size = window.size()
    window.show_error("a very long error " * 80)
    window.bulk.status.setText("a very long status " * 40)
    window.failures.refresh(show=True)
    _select(qtbot, window, seeded[0])
    QApplication.processEvents()
    assert window.size() == size


def test_the_chip_row_shows_every_chip_whole(qtbot, make_window):
    window = make_window()  # 1480 px wide, as the fixture opens it
    QApplication.processEvents()
    assert window.chip_area.overflow() == [] and not window.chip_area.more.isVisible()
    assert all(b.isVisible() for b in window.filter_buttons.values())


def test_chips_that_do_not_fit_go_into_a_menu_with_their_counts(qtbot, make_window, seeded):
    window = make_window()
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024 and bool(window.counts), timeout=5000)
    hidden = window.chip_area.overflow()
    assert hidden and window.chip_area.more.isVisible()
    assert window.chip_area.more.text() == f"{len(hidden)} more ▾"
    assert [a.text() for a in window.chip_area.menu.actions()] == [b.text() for b in hidden]
    assert all(b.text().rsplit(None, 1)[-1].replace(",", "").isdigit() for b in hidden)  # the counts stay
    key = next(k for k, b in window.filter_buttons.items() if b is hidden[-1])
    window.chip_area.menu.actions()[-1].trigger()
    qtbot.waitUntil(lambda: window.filter.key == key, timeout=5000)
    assert window.filter_buttons[key].isVisible()  # the chosen filter is shown, not hidden in the menu
    chips = [b for b in window.filter_buttons.values() if b.isVisible()] + [window.chip_area.more]
    assert max(b.geometry().right() for b in chips) <= window.chip_area.width()


# --- first open ---------------------------------------------------------------------------------------------------


def test_the_first_open_lands_on_a_sample_with_a_depth_map_in_3d(qtbot, make_window, portal):
    assert seed_demo(portal, portal.config) > 0
    first_by_name = portal.list_users(Query(), limit=1)[0]
    assert first_by_name.result_id is None  # a placeholder without a map sorts first
    window = make_window()
    require_gl(window)
    qtbot.waitUntil(lambda: window.preview.content is not None, timeout=10000)
    assert window.current.result_id is not None and window.current.id != first_by_name.id
    assert window.preview.has_depth and window.preview.mode == "shader"
    assert window.list.currentIndex().row() == window.model.index_of(window.current.id).row()


# --- (6) undo of a publish from the studio ------------------------------------------------------------------------


def _accept(button: str) -> None:
    """Click ``button`` of the modal message box once it shows (the dialog is found through Qt, as a user sees it)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            QTimer.singleShot(50, click)
            return
        next(b for b in box.buttons() if b.text() == button).click()

    QTimer.singleShot(50, click)


def test_undo_publish_from_the_review_menu_restores_the_portal_and_says_so(qtbot, make_window, seeded, portal):
    user = seeded[1]
    portal.decide([user], "approved", reviewer="ed")
    window = make_window()
    with qtbot.waitSignal(window.bulk.stopped, timeout=30000):
        window.bulk.publish()
    assert portal.get_user(user).status == "published"
    qtbot.waitUntil(lambda: window.model.row_at(window.model.index_of(user).row()).status == "published", timeout=5000)
    _select(qtbot, window, user)
    action = next(a for a in window.menus["Review"].actions() if a.text() == "Undo publish of selected…")
    _accept("Undo publish")
    action.trigger()
    message = window.statusBar().currentMessage
    qtbot.waitUntil(lambda: "publish undone for 1 of 1 user" in message(), timeout=10000)
    qtbot.waitUntil(lambda: window.current.status == "generated", timeout=5000)  # and the reload keeps saying so
    assert "publish undone" in message() and portal.get_user(user).depth_url is None
    assert portal.get_user(user).status == "generated"
    assert portal.review_history(user)[0]["decision"] == "unpublished"
    window.decide("approved")  # approved again, then Ctrl+Z: back to no decision, not an error
    qtbot.waitUntil(lambda: portal.get_user(user).decision == "approved", timeout=5000)
    window.undo_stack.undo()
    qtbot.waitUntil(lambda: portal.review_history(user)[0]["decision"] == "cleared", timeout=5000)
    assert portal.get_user(user).status == "generated"


# --- (9) photo QA, in the list and the user's details -------------------------------------------------------------


def test_an_unsuitable_photo_is_flagged_before_the_backend_in_the_list_and_the_details(
    qtbot, make_window, portal, tmp_path: Path
):
    user = portal.list_users(Query(statuses=["missing"]), limit=1)[0].id
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(tiny)
    _set_avatar(portal, user, str(tiny))
    window = make_window()
    calls: list[int] = []
    window.bulk.backend_factory = lambda _cfg: _Counting(calls)
    with qtbot.waitSignal(window.bulk.stopped, timeout=30000):
        window.bulk.generate([user], title="Generate 1 selected")
    assert calls == []  # it never reached the backend
    qtbot.waitUntil(lambda: window.model.row_at(window.model.index_of(user).row()).status == "failed", timeout=5000)
    tip = window.model.index_of(user).data(Qt.ItemDataRole.ToolTipRole)
    assert "the photo cannot make a good 3D avatar" in tip and "24 px" in tip
    _select(qtbot, window, user)
    assert "ask the user to upload a larger, ordinary portrait photo" in window.user_info.text()


class _Counting:
    name, model = "counting", "none"

    def __init__(self, calls: list[int]) -> None:
        self.calls = calls

    def predict(self, avatar, *, cancel=None):  # a DepthBackend that must not be called
        self.calls.append(1)
        raise AssertionError("an unsuitable photo reached the backend")

    def close(self) -> None:
        return None
