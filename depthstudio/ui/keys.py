"""↑/↓ move through the users wherever the keyboard focus is in the window, except where the arrows edit text.

The menu's window-wide shortcuts (J, K, A, X…) already reach the window from any widget; the arrows cannot be
shortcuts, because the list, the grid and the text fields need them. So the widget that has the focus is watched
(one event filter, moved with the focus; nothing runs for other events or other windows) and an arrow that would
go to a button, a chip, a slider or a choice box moves the selection instead.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from shiboken6 import isValid

STEPS = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1}


OWN_ARROWS = "ownArrows"  # a widget with this property set moves with the arrows itself (the culling grid)


def edits_text(widget: QWidget) -> bool:
    """Widgets whose arrows belong to them: text, numbers typed in, an editable choice, a list or grid of items."""
    if widget.property(OWN_ARROWS):
        return True
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    return isinstance(widget, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit, QAbstractItemView))


class ArrowKeys(QObject):
    """Route ↑/↓ from any non-text widget of ``window`` to ``move(step)``."""

    def __init__(self, window: QWidget, move: Callable[[int], None]) -> None:
        super().__init__(window)
        self.window = window
        self.move = move
        self._watched: QWidget | None = None
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        app.focusChanged.connect(self._focus_changed)

    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        if self._watched is not None and isValid(self._watched):  # the widget may have been deleted meanwhile
            self._watched.removeEventFilter(self)
        self._watched = None
        if new is not None and new.window() is self.window and not edits_text(new):
            new.installEventFilter(self)
            self._watched = new

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress:
            key = event  # a QKeyEvent for this type
            assert isinstance(key, QKeyEvent)
            step = STEPS.get(Qt.Key(key.key()))
            if step is not None and not key.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
                self.move(step)
                return True
        return False
