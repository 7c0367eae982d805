"""The filter chips in one row: those that fit are shown, the rest are in a "More" menu that keeps their counts.

A chip never scrolls off the window or gets cut: when the window narrows, chips from the end move into the menu
(the checked chip stays in view, named on the "More" button), and they come back as the window widens.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QResizeEvent
from PySide6.QtWidgets import QMenu, QSizePolicy, QToolButton, QWidget

GAP = 4


class ChipBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chips: list[QToolButton] = []
        self.more = QToolButton(self)
        self.more.setObjectName("chip")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.menu = QMenu(self.more)
        self.more.setMenu(self.menu)
        self.more.setToolTip("The filters that do not fit, with their counts")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def add(self, chip: QToolButton) -> None:
        chip.setParent(self)
        self.chips.append(chip)
        chip.toggled.connect(lambda _on: self._lay_out())

    def overflow(self) -> list[QToolButton]:
        """The chips in the menu now."""
        return [c for c in self.chips if c.isHidden()]

    def refresh(self) -> None:
        """Call after a chip's text (its count) changed: widths and the menu follow."""
        self._lay_out()

    def sizeHint(self) -> QSize:
        width = sum(c.sizeHint().width() + GAP for c in self.chips)
        return QSize(width, self._height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self._more_width(f"{len(self.chips)} more ▾") + GAP, self._height())

    def _height(self) -> int:
        return max([c.sizeHint().height() for c in self.chips] + [self.more.sizeHint().height()])

    def _more_width(self, text: str) -> int:
        """The More button's width with ``text``, its own text left as it is."""
        old = self.more.text()
        self.more.setText(text)
        width = self.more.sizeHint().width()
        self.more.setText(old)
        return width

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._lay_out()

    def _lay_out(self) -> None:
        widths = [c.sizeHint().width() for c in self.chips]
        if sum(widths) + GAP * len(widths) <= self.width():
            shown = set(range(len(self.chips)))
        else:
            # Chips from the start while they fit beside the More button; the checked one always, in its place.
            checked = next((i for i, c in enumerate(self.chips) if c.isChecked()), -1)
            room = self.width() - self._more_width(f"{len(self.chips)} more ▾") - GAP
            if checked >= 0:
                room -= widths[checked] + GAP
            shown = {checked} if checked >= 0 else set()
            for i, w in enumerate(widths):
                if i == checked:
                    continue
                if w + GAP > room:
                    break
                shown.add(i)
                room -= w + GAP
        x = 0
        height = self._height()
        self.menu.clear()
        for i, chip in enumerate(self.chips):
            if i in shown:
                chip.setGeometry(x, (height - chip.sizeHint().height()) // 2, widths[i], chip.sizeHint().height())
                chip.show()
                x += widths[i] + GAP
            else:
                chip.hide()
                action = QAction(chip.text(), self.menu)
                action.setToolTip(chip.toolTip())
                action.setCheckable(True)
                action.setChecked(chip.isChecked())
                action.triggered.connect(chip.click)
                self.menu.addAction(action)
        self.more.setVisible(len(shown) < len(self.chips))
        if self.more.isVisible():
            self.more.setText(f"{len(self.chips) - len(shown)} more ▾")
            self.more.setGeometry(x, (height - self.more.sizeHint().height()) // 2, self.more.sizeHint().width(),
                                  self.more.sizeHint().height())  # fmt: skip
