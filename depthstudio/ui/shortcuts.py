"""The `?` overlay: every key of the window on one screen, grouped by menu, read from the menu bar so the list
cannot drift from the actions. Review keys come first (top left): they are what an editor looks for."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

# Keys that belong to no menu item: the arrows, Escape, and what the mouse does on a slider.
EVERYWHERE = [
    ("Next / previous user (anywhere but a text field)", "↓ / ↑"),
    ("Clear the search, close this overlay", "Esc"),
    ("Fine-tune a slider (ten times finer)", "Shift+drag"),
    ("Reset a parameter to its default", "Double-click its slider"),
]
COLUMNS = (("Review",), ("View",), ("File", "Help", "Everywhere"))


class ShortcutOverlay(QDialog):
    def __init__(self, rows: list[tuple[str, str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = [row for row in rows if row[2]]  # a key overlay: actions without a key are in the menus
        groups: dict[str, list[tuple[str, str]]] = {}
        for menu, action, keys in self.rows:
            groups.setdefault(menu, []).append((action, keys))
        groups["Everywhere"] = EVERYWHERE
        columns = QHBoxLayout()
        placed = {name for column in COLUMNS for name in column}
        layout_columns = [list(c) for c in COLUMNS]
        layout_columns[-1][:0] = [name for name in groups if name not in placed]  # a new menu still shows
        for names in layout_columns:
            column = QVBoxLayout()
            for name in names:
                if name in groups:
                    column.addWidget(_group(name, groups[name]))
            column.addStretch(1)
            columns.addLayout(column)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(columns)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def keys(self) -> list[tuple[str, str]]:
        """(action, keys) of the menu bar's actions that have keys, as shown."""
        return [(action, keys) for _, action, keys in self.rows]


def _group(title: str, rows: list[tuple[str, str]]) -> QGroupBox:
    box = QGroupBox(title)
    grid = QGridLayout(box)
    grid.setVerticalSpacing(2)
    grid.setHorizontalSpacing(16)
    for r, (action, keys) in enumerate(rows):
        name = QLabel(action)
        key = QLabel(keys or "—")
        key.setObjectName("shortcutKeys")
        for label in (name, key):
            label.setTextFormat(Qt.TextFormat.PlainText)
        grid.addWidget(name, r, 0)
        grid.addWidget(key, r, 1)
    return box
