"""The studio's second pass: the 3D preview moving from the first open, keys that always work, plain text."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import update

from depthstudio.render.motion import pointer_target
from depthstudio.ui.main_window import FILTERS
from depthstudio.ui.plain import display
from tests.ui.conftest import require_gl
from tests.ui.test_screenshots import _save


def _select(qtbot, window, user_id: str) -> None:
    window.list.setCurrentIndex(window.model.index_of(user_id))
    qtbot.waitUntil(lambda: window.preview.content is not None and window.current.id == user_id, timeout=5000)
    qtbot.waitUntil(lambda: not window.tasks.pending and not window.params.loading, timeout=5000)


def test_the_preview_follows_the_pointer_from_the_first_open(qtbot, make_window, seeded):
    window = make_window()
    require_gl(window)
    _select(qtbot, window, seeded[1])
    preview = window.preview
    preview.set_mouse((0.0, 0.0))
    spot = QPoint(preview.width() // 5, preview.height() // 2)
    qtbot.mouseMove(preview, spot)  # no click, no key: the first thing a new editor does
    expected_x, _ = pointer_target(spot.x(), spot.y(), preview.width(), preview.height())
    qtbot.waitUntil(lambda: abs(preview.pointer.mouse_x - expected_x) < 0.05, timeout=5000)


def _drain() -> None:
    """One turn of the event loop: every posted event (an update request among them) handled."""
    QApplication.sendPostedEvents()
    QApplication.processEvents()


def test_a_still_pointer_draws_no_frames(qtbot, make_window, seeded):
    """On demand: the clock stops once the eased motion settles, and no frame is drawn until something changes."""
    window = make_window()
    require_gl(window)
    _select(qtbot, window, seeded[1])
    preview = window.preview
    qtbot.mouseMove(preview, QPoint(preview.width() // 3, preview.height() // 3))
    qtbot.waitUntil(lambda: preview.animating, timeout=2000)
    qtbot.waitUntil(lambda: not preview.animating, timeout=10000)
    assert preview.pointer.mouse == (preview.pointer.target_x, preview.pointer.target_y)
    frames: list[int] = []
    preview.frame_drawn.connect(lambda: frames.append(1))
    _drain()  # the settled frame itself, asked for by the last tick
    frames.clear()
    # The gate, not a wait: the clock is stopped, so a frame could only come from an event already queued or
    # from a paint that asks for the next one; neither happens over several full turns of the event loop.
    for _ in range(3):
        _drain()
    assert frames == [] and not preview.animating
    window.set_view("depth")  # a change draws exactly when it happens
    qtbot.waitUntil(lambda: len(frames) > 0, timeout=2000)


def test_return_leaves_the_search_box_and_the_review_keys_act_on_the_list(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, seeded[0])
    window.search.setFocus()
    qtbot.waitUntil(window.search.hasFocus, timeout=2000)
    qtbot.keyClicks(window.search, "a")
    assert window.search.text() == "a"  # typing into the field types
    qtbot.keyClick(window.search, Qt.Key.Key_Return)
    assert window.list.hasFocus() and window.search.text() == "a"
    qtbot.waitUntil(lambda: not window.model.busy and window.current is not None, timeout=5000)
    target = window.current
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_A)
    assert window.search.text() == "a", "A typed into the search box instead of approving"
    qtbot.waitUntil(lambda: window.portal.get_user(target.id).decision == "approved", timeout=5000)


def test_review_keys_work_after_clicking_a_filter_chip(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, seeded[0])
    qtbot.mouseClick(window.filter_buttons["generated"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.model.busy and window.current is not None, timeout=5000)
    assert not window.filter_buttons["generated"].hasFocus()
    qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_X)
    qtbot.waitUntil(lambda: window.portal.get_user(window.model.row_at(0).id).decision == "rejected", timeout=5000)


def test_the_menu_bar_holds_every_action_and_the_overlay_lists_every_key(qtbot, make_window, seeded):
    window = make_window()
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "View", "Review", "Help"]
    table = window.shortcut_table()
    by_name = {action: keys for _, action, keys in table}
    for action, key in (
        ("Approve", "A"),
        ("Reject", "X"),
        ("Next user", "J"),
        ("Previous user", "K"),
        ("Quit", "Ctrl+Q"),
    ):
        assert key in by_name[action].split(", ")
    assert "Settings…" in by_name and "Publish approved" in by_name
    qtbot.keyClick(window.list, "?")
    qtbot.waitUntil(lambda: getattr(window, "shortcut_overlay", None) is not None, timeout=2000)
    overlay = window.shortcut_overlay
    assert overlay.isVisible()
    assert overlay.keys() == [(a, k) for _, a, k in table if k]
    overlay.close()
    qtbot.keyClick(window.list, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


HOSTILE = "<b>x</b> \u202eevil\u202c <i>note</i>"


def test_hostile_names_show_as_plain_text_and_stay_stored(qtbot, make_window, portal, seeded):
    table = portal.users.table
    with portal.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == seeded[1]).values({portal.users.name.name: HOSTILE}))
    window = make_window()
    _select(qtbot, window, seeded[1])
    assert window.user_title.textFormat() == Qt.TextFormat.PlainText
    shown = window.user_title.text()
    assert "<b>x</b>" in shown and "\u202e" not in shown and "<U+202E>" in shown
    index = window.model.index_of(seeded[1])
    assert "\u202e" not in window.model.data(index)
    tip = window.model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert "&lt;b&gt;x&lt;/b&gt;" in tip and "\u202e" not in tip
    assert portal.get_user(seeded[1]).name == HOSTILE  # the stored value is unchanged
    window.show_error(f"cannot fetch {HOSTILE}")
    assert "\u202e" not in window.statusBar().currentMessage()


def test_display_neutralises_controls_but_keeps_ordinary_text():
    assert display("Zoë Ørsted-李") == "Zoë Ørsted-李"
    assert display("a\x00b\u2067c") == "a<U+0000>b<U+2067>c"
    assert display("two\nlines") == "two lines"


def test_moving_on_clears_the_last_users_message(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, seeded[0])
    window.show_error("the photo of the last user cannot be read")
    _select(qtbot, window, seeded[1])
    assert "last user" not in window.statusBar().currentMessage()


def _chip_count(window, key: str) -> int:
    return int(window.filter_buttons[key].text().rsplit(None, 1)[-1].replace(",", ""))


def test_the_status_chips_add_up_to_all(qtbot, make_window, portal, seeded):
    table = portal.users.table
    with portal.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == seeded[2]).values({portal.users.avatar.name: None}))
    window = make_window()
    qtbot.waitUntil(lambda: "  " in window.filter_buttons["no_photo"].text(), timeout=5000)
    parts = [f.key for f in FILTERS if f.statuses]
    assert _chip_count(window, "no_photo") == portal.status_counts()["no_photo"] >= 1
    assert sum(_chip_count(window, k) for k in parts) == _chip_count(window, "all")


def test_users_with_the_same_name_are_told_apart(qtbot, make_window, portal, seeded):
    table = portal.users.table
    with portal.engine.begin() as conn:
        for uid in seeded[:2]:
            conn.execute(update(table).where(table.c.id == uid).values({portal.users.name.name: "Sam Lee"}))
    window = make_window()
    shown = {window.model.data(window.model.index_of(uid)) for uid in seeded[:2]}
    assert shown == {f"Sam Lee  · id {uid}" for uid in seeded[:2]}
    _select(qtbot, window, seeded[0])
    assert seeded[0] in window.user_title.text()
    assert window.model.data(window.model.index_of(seeded[2])) == portal.get_user(seeded[2]).name  # unique: plain


def test_publish_asks_first_saying_how_many_where_to_and_what_is_skipped(qtbot, make_window, portal, seeded):
    portal.decide(seeded[:2], "approved", reviewer="test-editor")
    window = make_window()
    qtbot.waitUntil(lambda: window.counts.get("approved") == 2, timeout=5000)
    seen: list[str] = []

    def read_and_cancel() -> None:
        box = QApplication.activeModalWidget()
        seen.append(box.text() + "\n" + box.informativeText())
        _save(box, "publish-confirmation.png")
        box.reject()

    QTimer.singleShot(0, read_and_cancel)
    window.bulk.publish_button.click()
    assert seen, "no confirmation was shown"
    text = seen[0]
    assert "Publish 2 approved depth maps?" in text
    folder = str(portal.config.local_store_dir().resolve())
    assert f"Copies the maps into {folder} " in text and "file:// URL to the demo portal" in text
    assert "1 awaiting review" in text  # seeded[2] waits for review: said, not published
    assert not window.bulk.running
    assert all(portal.get_user(uid).status == "approved" for uid in seeded[:2]), "cancel publishes nothing"


def test_publish_with_nothing_approved_says_so_and_starts_nothing(qtbot, make_window, seeded):
    window = make_window()
    qtbot.waitUntil(lambda: bool(window.counts), timeout=5000)
    window.bulk.publish_button.click()
    assert not window.bulk.running
    assert "nothing to publish" in window.statusBar().currentMessage()


def test_clearing_the_search_keeps_the_selected_user(qtbot, make_window, portal, seeded):
    window = make_window()
    target = portal.get_user(seeded[2])
    window.search.setText(target.name)
    window.apply_query()
    qtbot.waitUntil(lambda: window.current is not None and window.current.id == target.id, timeout=5000)
    window.search.clear()
    window.apply_query()
    qtbot.waitUntil(lambda: not window.model.busy and window.model.rowCount() > 1, timeout=5000)
    qtbot.waitUntil(lambda: window.list.currentIndex().isValid(), timeout=5000)
    assert window.model.index_of(target.id).row() > 0, "the first row would be selected anyway: not a test"
    assert window.current.id == target.id
    assert window.list.currentIndex() == window.model.index_of(target.id)


def test_the_window_never_widens_itself(qtbot, make_window, seeded):
    """A long error, a long name, a new chip: the window keeps the size the editor gave it."""
    window = make_window()
    window.resize(1480, 800)
    qtbot.waitUntil(lambda: window.width() == 1480, timeout=2000)
    window.show_error("x" * 600)
    window.bulk.status.setText("y" * 600)
    _select(qtbot, window, seeded[0])
    qtbot.wait(50)
    assert window.width() == 1480 and window.minimumSizeHint().width() <= 1480
    assert window.chip_area.minimumSizeHint().width() < 150  # the chips go into a menu rather than widen the window


def test_j_shows_a_prefetched_neighbour_at_once(qtbot, make_window, seeded):
    """The next user's photo and map are loaded ahead: J draws them without waiting for the worker."""
    window = make_window()
    window.set_filter("generated")
    qtbot.waitUntil(lambda: not window.model.busy and window.model.rowCount() >= 3, timeout=5000)
    _select(qtbot, window, window.model.row_at(0).id)
    qtbot.waitUntil(lambda: not window.tasks.pending, timeout=5000)  # the neighbours' loads too
    following, before = window.model.row_at(1).id, window.preview.content
    qtbot.keyClick(window.list, Qt.Key.Key_J)
    # No event loop turn in between: the content was there before the key.
    assert window.current.id == following
    assert window.preview.content is not None and window.preview.content is not before
    assert window.preview.has_depth


def test_selecting_a_user_again_does_not_log_its_problem_again(qtbot, make_window, portal, seeded, caplog, tmp_path):
    from depthstudio.portal.repository import Query

    row = next(r for r in portal.list_users(Query(), limit=100) if r.avatar and r.status == "missing")
    table = portal.users.table
    with portal.engine.begin() as conn:
        missing = (tmp_path / "gone.png").as_uri()
        conn.execute(update(table).where(table.c.id == row.id).values({portal.users.depth.name: missing}))
    window = make_window()
    with caplog.at_level("WARNING", logger="depthstudio.ui.main_window"):
        for uid in (row.id, seeded[0], row.id):
            _select(qtbot, window, uid)
    logged = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(logged) == 1
    assert "cannot be read" in window.statusBar().currentMessage()  # still shown each time


def test_compare_is_disabled_with_the_reason_that_applies(qtbot, make_window, portal, seeded):
    from depthstudio.portal.repository import Query

    missing = next(r for r in portal.list_users(Query(), limit=100) if r.avatar and r.status == "missing")
    window = make_window()
    _select(qtbot, window, missing.id)
    button = window.view_buttons["compare"]
    assert not button.isEnabled() and "needs a depth map" in button.toolTip()
    _select(qtbot, window, seeded[1])  # one result
    assert not button.isEnabled() and "two depth results" in button.toolTip()
    _select(qtbot, window, seeded[0])  # two results of the same photo
    assert button.isEnabled()
