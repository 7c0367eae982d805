"""The message area keeps the last errors whole, with their actions, after the status bar has moved on."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from depthstudio.ui.messages import names_a_setting

LONG = (
    "the local depth model depth-anything-v2-small is not on this machine and could not be downloaded (the hub at "
    "https://huggingface.co did not answer). Either download it elsewhere and set depth.local_weights to the file, "
    "or set a Replicate token."
)


def _select(qtbot, window, row: int) -> None:
    window.list.setCurrentIndex(window.model.index(row))
    qtbot.waitUntil(lambda: not window.tasks.pending and window.current is not None, timeout=5000)


def test_an_error_stays_whole_with_its_actions_after_the_next_user_is_selected(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, 0)
    assert window.messages.button.text() == "Messages"
    window.show_error(LONG, about=window.current.id)
    name = window.current.name
    _select(qtbot, window, 1)
    assert window.statusBar().currentMessage() == ""  # the status bar is the next user's
    assert window.messages.button.text() == "⚠ 1"
    qtbot.mouseClick(window.messages.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.messages.isVisible, timeout=2000)
    card = window.messages.cards[0]
    assert card.findChild(QLabel, "messageText").text() == LONG  # whole, the part that says what to do included
    buttons = {b.objectName(): b for b in card.findChildren(QPushButton)}
    assert set(buttons) == {"messageSettings", "messageCopy"}  # no Retry: nothing to try again here
    qtbot.mouseClick(buttons["messageCopy"], Qt.MouseButton.LeftButton)
    copied = QApplication.clipboard().text()
    assert copied.endswith(LONG) and f"(user: {name})" in copied
    opened = []

    def close_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        opened.append(type(dialog).__name__)
        dialog.reject()

    QTimer.singleShot(300, close_dialog)
    qtbot.mouseClick(buttons["messageSettings"], Qt.MouseButton.LeftButton)
    assert opened == ["SettingsDialog"]


def test_the_same_problem_of_the_same_user_is_kept_once(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, 0)
    for _ in range(3):
        window.show_error("the photo cannot be read", about=window.current.id)
    window.show_error("cannot count users: the database went away", retry=window.apply_query)
    assert len(window.messages.messages) == 2
    retry = window.messages.cards[0].findChild(QPushButton, "messageRetry")
    assert retry is not None and window.messages.cards[1].findChild(QPushButton, "messageRetry") is None
    qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)
    assert window.model.busy or window.list_header.text() == "Loading…"  # the list is asked again


def test_settings_are_offered_only_where_a_setting_is_named():
    assert names_a_setting("set depth.local_weights to the file")
    assert names_a_setting("no Replicate token: set one in Settings")
    assert not names_a_setting("the photo at https://cdn.example.com/a.settings.png is not an image")
    assert not names_a_setting("the depth map is flat: regenerate it")
