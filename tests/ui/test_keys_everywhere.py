"""Keyboard first: the review keys and ↑/↓/J/K act on the users from wherever the focus is, except a text field."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QListView,
    QPushButton,
    QSlider,
    QWidget,
)

from depthstudio.ui.keys import edits_text


def _ready(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.model.busy and window.current is not None, timeout=5000)
    qtbot.waitUntil(lambda: not window.tasks.pending and not window.params.loading, timeout=5000)


def _focus_stops(window) -> list[QWidget]:
    """Every widget of the window that Tab can reach, in Tab order."""
    seen: list[QWidget] = []
    w = window.list
    for _ in range(200):
        if (
            w.isVisible()
            and w.isEnabled()
            and w.window() is window
            and w not in seen
            and w.focusPolicy() & Qt.FocusPolicy.TabFocus
        ):
            seen.append(w)
        w = w.nextInFocusChain()
        if w is window.list:
            break
    return seen


def _row(window) -> int:
    return window.list.currentIndex().row()


def test_arrows_and_j_k_move_the_selection_from_every_focus_position(qtbot, make_window, seeded):
    window = make_window()
    _ready(qtbot, window)
    stops = _focus_stops(window)
    for kind in (QPushButton, QSlider, QComboBox, QCheckBox, QLineEdit, QAbstractSpinBox, QListView):
        assert any(isinstance(w, kind) for w in stops), kind  # a fair sample of positions
    window.list.setCurrentIndex(window.model.index(1))
    for widget in stops:
        if not widget.isEnabled():
            continue  # Compare, for a user with one result: it takes no focus then
        widget.setFocus()
        assert widget.hasFocus(), f"{widget!r} took no focus"
        before = _row(window)
        value = widget.value() if hasattr(widget, "value") else None
        qtbot.keyClick(widget, Qt.Key.Key_Down)
        if edits_text(widget) and widget is not window.list:
            assert _row(window) == before, f"↓ in {widget!r} moved the selection instead of editing"
        else:
            assert _row(window) == before + 1, f"↓ did nothing with the focus on {widget!r}"
            qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Up)
            assert _row(window) == before, f"↑ did nothing with the focus on {widget!r}"
            if value is not None:
                assert widget.value() == value, f"↓ changed {widget!r} as well"
        widget.setFocus()
        window.list.setCurrentIndex(window.model.index(1))
        if isinstance(widget, type(window.search)):
            continue  # J and K type there (tested below)
        qtbot.keyClick(widget, Qt.Key.Key_J)
        assert _row(window) == 2, f"J did nothing with the focus on {widget!r}"
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_K)
        assert _row(window) == 1, f"K did nothing with the focus on {widget!r}"


def test_a_review_key_acts_from_a_slider_and_a_button_but_types_in_the_search(qtbot, make_window, seeded):
    window = make_window()
    _ready(qtbot, window)
    slider = window.params.rows["horizontal_threshold"].slider
    target = window.current
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus, timeout=2000)
    qtbot.keyClick(slider, Qt.Key.Key_X)
    qtbot.waitUntil(lambda: window.portal.get_user(target.id).decision == "rejected", timeout=5000)
    _ready(qtbot, window)
    target = window.current
    window.approve_button.setFocus()
    qtbot.keyClick(window.approve_button, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: window.portal.get_user(target.id).decision == "approved", timeout=5000)
    window.search.setFocus()
    qtbot.keyClicks(window.search, "ajk")
    assert window.search.text() == "ajk"


def test_escape_clears_the_search_and_closes_the_shortcut_overlay(qtbot, make_window, seeded):
    window = make_window()
    _ready(qtbot, window)
    window.focus_search()
    qtbot.keyClicks(window.search, "zzz-nobody")
    qtbot.waitUntil(lambda: window.model.rowCount() == 0 and not window.model.busy, timeout=5000)
    qtbot.keyClick(window.search, Qt.Key.Key_Escape)
    assert window.search.text() == "" and window.list.hasFocus()
    qtbot.waitUntil(lambda: window.model.rowCount() > 0, timeout=5000)
    window.search.setText("zzz")  # typed, then the focus went elsewhere: Escape anywhere clears it too
    window.approve_button.setFocus()
    qtbot.keyClick(window.approve_button, Qt.Key.Key_Escape)
    assert window.search.text() == ""
    window.show_shortcuts()
    overlay = window.shortcut_overlay
    qtbot.waitUntil(overlay.isVisible, timeout=2000)
    qtbot.keyClick(overlay, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not overlay.isVisible(), timeout=2000)
    window.show_shortcuts()
    overlay = window.shortcut_overlay
    qtbot.waitUntil(overlay.isVisible, timeout=2000)
    qtbot.keyClick(window.list, Qt.Key.Key_Escape)  # the window's own Escape closes it too
    qtbot.waitUntil(lambda: not overlay.isVisible(), timeout=2000)


def test_escape_closes_the_messages_and_failures_panels_one_per_press(qtbot, make_window, seeded):
    window = make_window()
    _ready(qtbot, window)
    window.show_error("the hub could not be reached: check the network, then Retry")
    qtbot.keyClick(window.list, Qt.Key.Key_M)
    window.failures.refresh(show=True)
    qtbot.waitUntil(lambda: window.messages.isVisible() and window.failures.isVisible(), timeout=2000)

    window.failures.tree.setFocus()  # the panel with the focus goes first
    qtbot.keyClick(window.failures.tree, Qt.Key.Key_Escape)
    assert not window.failures.isVisible() and window.messages.isVisible()
    assert window.list.hasFocus(), "the keys go back to the list"
    qtbot.keyClick(window.list, Qt.Key.Key_Escape)
    assert not window.messages.isVisible()

    window.messages.toggle()
    card_button = window.messages.cards[0].findChild(QPushButton)
    card_button.setFocus()
    qtbot.keyClick(card_button, Qt.Key.Key_Escape)  # from a button inside the panel too
    assert not window.messages.isVisible()
    assert window.current is not None and window.search.text() == "", "nothing else happened"


def test_every_dialog_closes_on_escape(qtbot, make_window, seeded, tmp_path):
    from depthstudio.ui.settings_dialog import SettingsDialog

    window = make_window()
    _ready(qtbot, window)
    window.show_about()
    window.show_shortcuts()
    dialogs = [
        window.about_dialog,
        window.shortcut_overlay,
        SettingsDialog(window.config, window, path=tmp_path / "config.toml"),
    ]
    for dialog in dialogs:
        dialog.show()
        qtbot.waitUntil(dialog.isVisible, timeout=2000)
        dialog.activateWindow()
        qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda d=dialog: not d.isVisible(), timeout=2000)


def _amber_pixels(widget) -> int:
    image = widget.grab().toImage()
    amber = 0
    for x in range(image.width()):
        for y in (0, 1, image.height() - 2, image.height() - 1):
            c = image.pixelColor(x, y)
            amber += c.red() > 200 and 140 < c.green() < 200 and c.blue() < 90
    return amber


def test_the_focused_control_wears_a_visible_ring(qtbot, make_window, seeded):
    window = make_window()
    _ready(qtbot, window)
    for widget in (window.reject_note_button, window.sort_box, window.params.reset_button):
        window.list.setFocus()
        qtbot.waitUntil(window.list.hasFocus, timeout=2000)
        assert _amber_pixels(widget) == 0
        widget.setFocus()
        qtbot.waitUntil(widget.hasFocus, timeout=2000)
        assert _amber_pixels(widget) > widget.width(), f"no ring on the focused {widget!r}"
