"""A layout that lines its widgets up like words: as many per row as fit, the rest on the next row.

A row of buttons in a narrow window then wraps instead of cutting their labels or pushing the window wider; its
height follows its width (height-for-width), so the widgets under it move down rather than overlap.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget, QWidgetItem


class FlowLayout(QLayout):
    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._gap = spacing
        self._breaks: set[int] = set()  # item indexes a stretch (``add_stretch``) pushes to the right
        self.setContentsMargins(0, 0, 0, 0)

    def add_stretch(self) -> None:
        """The widgets added after this sit at the right end of their row (when the row has room)."""
        self._breaks.add(len(self._items))

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        shown = [i for i in self._items if not _hidden(i)]
        width = sum(i.sizeHint().width() for i in shown) + self._gap * max(0, len(shown) - 1)
        height = max((i.sizeHint().height() for i in shown), default=0)
        m = self.contentsMargins()
        return QSize(width + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:
        """The widest single widget: below that even one per row would cut a label."""
        size = QSize()
        for item in self._items:
            if not _hidden(item):
                size = size.expandedTo(item.minimumSize()).expandedTo(QSize(item.sizeHint().width(), 0))
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _arrange(self, rect: QRect, *, move: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        rows: list[list[tuple[int, QLayoutItem]]] = [[]]
        x = 0
        for index, item in enumerate(self._items):
            if _hidden(item):
                continue
            w = item.sizeHint().width()
            if rows[-1] and x + w > area.width():
                rows.append([])
                x = 0
            rows[-1].append((index, item))
            x += w + self._gap
        y = area.top()
        for row in rows:
            height = max((item.sizeHint().height() for _, item in row), default=0)
            if move:
                used = sum(item.sizeHint().width() for _, item in row) + self._gap * max(0, len(row) - 1)
                x = area.left()
                for index, item in row:
                    if index in self._breaks and index != row[0][0]:
                        x += max(0, area.width() - used)
                    size = item.sizeHint()
                    item.setGeometry(QRect(QPoint(x, y + (height - size.height()) // 2), size))
                    x += size.width() + self._gap
            y += height + self._gap
        return y - self._gap - area.top() + m.top() + m.bottom() if rows[0] else m.top() + m.bottom()


def _hidden(item: QLayoutItem) -> bool:
    widget = item.widget()
    return isinstance(item, QWidgetItem) and widget is not None and widget.isHidden()
