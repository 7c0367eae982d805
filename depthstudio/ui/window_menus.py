"""The window's menu bar: every action lives in a menu with its keys, and the shortcut overlay (?) reads them back
from here, so the overlay never drifts from the keys that work."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

MENUS = ("File", "View", "Review", "Help")


class MenuBar:
    def __init__(self, window: QMainWindow, guard: Callable[[Callable[[], object]], Callable[[], None]]) -> None:
        self.window, self.guard = window, guard
        bar = window.menuBar()
        self.menus: dict[str, QMenu] = {name: bar.addMenu(f"&{name}") for name in MENUS}

    def act(self, menu: str, text: str, keys: tuple[str, ...], slot: Callable[[], object]) -> QAction:
        """An action with window-wide keys; ``guard`` turns its failure into a message instead of a raise into Qt."""
        action = QAction(text, self.window)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(self.guard(slot))
        self.add(menu, action)
        return action

    def add(self, menu: str, action: QAction) -> None:
        self.menus[menu].addAction(action)
        self.window.addAction(action)

    def separator(self, menu: str) -> None:
        self.menus[menu].addSeparator()

    def table(self) -> list[tuple[str, str, str]]:
        """(menu, action, keys) for every action in the menu bar: the overlay's content."""
        rows = []
        for name, menu in self.menus.items():
            for action in menu.actions():
                if action.isSeparator():
                    continue
                keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
                rows.append((name, action.text().replace("&", ""), keys))
        return rows
