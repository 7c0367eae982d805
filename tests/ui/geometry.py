"""What a user sees wrong in a window at a given size, found from the real widgets' geometry.

Three kinds of fault, each a sentence naming the widget: a control (partly) outside the window or clipped by a
parent that cannot scroll to it; a label or button narrower than its text (Qt clips a button's text and elides
nothing by itself, so narrower than its size hint is a cut label); a scroll bar shown with nothing to scroll.
A widget whose text is cut on purpose (and shown whole in its tooltip) says so with the ``elides`` property.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QScrollBar,
    QWidget,
)

CONTROLS = (QAbstractButton, QLabel, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractSlider, QProgressBar)


def _name(w: QWidget) -> str:
    text = getattr(w, "text", None)
    shown = text() if callable(text) else ""
    return f"{type(w).__name__}({w.objectName() or ''}{' ' + repr(shown[:30]) if shown else ''})"


def _scrollable_ancestor(w: QWidget, horizontal: bool) -> bool:
    """Whether a scroll area above ``w`` can bring a clipped part into view in that direction."""
    parent = w.parentWidget()
    while parent is not None:
        area = parent.parentWidget()
        if isinstance(area, QAbstractScrollArea) and parent is area.viewport():
            bar = area.horizontalScrollBar() if horizontal else area.verticalScrollBar()
            if bar.maximum() > bar.minimum() and bar.isVisible():
                return True
        parent = parent.parentWidget()
    return False


def _clipped(w: QWidget, window: QWidget) -> str | None:
    """Where the widget's rectangle leaves a visible ancestor that cannot scroll to it (None: wholly shown)."""
    rect = QRect(w.mapTo(window, QPoint(0, 0)), w.size())
    child: QWidget = w
    parent = w.parentWidget()
    while parent is not None:
        top = parent is window
        area = QRect(parent.mapTo(window, QPoint(0, 0)), parent.size()) if not top else window.rect()
        if not area.contains(rect):
            h = rect.left() < area.left() or rect.right() > area.right()
            v = rect.top() < area.top() or rect.bottom() > area.bottom()
            if (h and not _scrollable_ancestor(child, True)) or (v and not _scrollable_ancestor(child, False)):
                return f"{_name(w)} at {rect.getRect()} leaves {_name(parent)} at {area.getRect()}"
            return None  # a scroll area reaches it
        if top:
            return None
        child, parent = parent, parent.parentWidget()
    return None


def _shown(w: QWidget, window: QWidget) -> bool:
    return w.isVisibleTo(window) and w.width() > 0 and w.height() > 0


def problems(window: QWidget) -> list[str]:
    """Every fault found in ``window`` as it is laid out now."""
    found: list[str] = []
    for w in window.findChildren(QWidget):
        if not _shown(w, window) or w.window() is not window:
            continue
        if isinstance(w, QScrollBar):
            if w.maximum() <= w.minimum():
                found.append(f"empty scroll bar {_name(w)} in {_name(w.parentWidget().parentWidget())}")
            continue
        if not isinstance(w, CONTROLS):
            continue
        where = _clipped(w, window)
        if where:
            found.append(f"outside: {where}")
        if w.property("elides"):
            continue
        if isinstance(w, QAbstractButton) and w.text() and w.width() < w.sizeHint().width():
            found.append(f"cut label: {_name(w)} is {w.width()} px wide, its text needs {w.sizeHint().width()}")
        elif isinstance(w, QLabel) and w.text() and not w.wordWrap() and w.width() < w.minimumSizeHint().width():
            found.append(f"cut text: {_name(w)} is {w.width()} px wide, its text needs {w.minimumSizeHint().width()}")
    return found
