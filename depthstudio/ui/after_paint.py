"""Run work once a widget has painted: background work started with a new page must not slow that page's paint.

Worker threads share the GIL with the GUI thread, so a preview decode or a COUNT over 100k users that starts
while the list paints its first page of a new filter makes the paint wait (each switch can cost the GUI thread
a whole switch interval). ``after_paint`` starts such work right after the widget's next paint event, or after
``fallback_ms`` when no paint comes (a hidden widget), so the work always happens.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QWidget


class _PaintWatch(QObject):
    """Calls the queued functions once, on the event loop turn after the watched widget's next paint."""

    def __init__(self, widget: QWidget, fallback_ms: int) -> None:
        super().__init__(widget)
        self.widget = widget
        self.queued: list[Callable[[], None]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(fallback_ms)
        self._timer.timeout.connect(self.flush)

    def add(self, fn: Callable[[], None]) -> None:
        if not self.queued:
            self.widget.installEventFilter(self)
            self._timer.start()
        self.queued.append(fn)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self.queued:
            # Posted, so it runs after this paint event has been handled, not before it.
            QTimer.singleShot(0, self, self.flush)
        return False

    def flush(self) -> None:
        self._timer.stop()
        self.widget.removeEventFilter(self)
        queued, self.queued = self.queued, []
        for fn in queued:
            fn()


def after_paint(widget: QWidget, fn: Callable[[], None], *, fallback_ms: int = 100) -> None:
    """Call ``fn`` just after ``widget``'s next paint (or after ``fallback_ms`` without one), in call order."""
    watch = widget.findChild(_PaintWatch, "after_paint", Qt.FindChildOption.FindDirectChildrenOnly)
    if watch is None:
        watch = _PaintWatch(widget, fallback_ms)
        watch.setObjectName("after_paint")
    watch.add(fn)
