"""A new page is painted before the work it starts (counts, the first user's preview), and that work still runs."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QWidget

from depthstudio.portal.repository import Query
from depthstudio.ui.after_paint import after_paint


class _PaintLog(QObject):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.events.append("paint")
        return False


def test_after_paint_runs_after_the_next_paint_or_after_the_fallback(qtbot):
    shown = QWidget()
    qtbot.addWidget(shown)
    shown.show()
    qtbot.waitExposed(shown)
    calls: list[str] = []
    after_paint(shown, lambda: calls.append("first"))
    after_paint(shown, lambda: calls.append("second"))
    shown.repaint()
    assert calls == []  # not inside the paint: on the event loop turn after it
    qtbot.waitUntil(lambda: calls == ["first", "second"], timeout=2000)

    hidden = QWidget()  # never painted: the fallback still runs the work
    qtbot.addWidget(hidden)
    after_paint(hidden, lambda: calls.append("hidden"), fallback_ms=20)
    qtbot.waitUntil(lambda: calls[-1:] == ["hidden"], timeout=2000)


def test_a_new_pages_counts_and_preview_start_after_the_list_painted_it(qtbot, make_window, seeded, portal):
    window = make_window()
    qtbot.waitUntil(lambda: not window.model.busy and not window.tasks.pending, timeout=5000)
    events: list[str] = []
    log = _PaintLog(events)
    window.list.viewport().installEventFilter(log)
    for name in ("status_counts", "count_users", "review_history"):  # review_history: the preview's first read
        real = getattr(portal, name)
        setattr(portal, name, lambda *a, _real=real, _name=name, **k: (events.append(_name), _real(*a, **k))[1])
    try:
        window.model.rowsInserted.connect(lambda *_: events.append("rows"))  # just before ``loaded``
        window.set_filter("missing")  # the seeded users await review: the current user changes
        qtbot.waitUntil(lambda: not window.model.busy and not window.tasks.pending, timeout=5000)
    finally:
        for name in ("status_counts", "count_users", "review_history"):
            delattr(portal, name)
    after = events[events.index("rows") + 1 :]
    work = [e for e in after if e not in ("paint", "rows")]
    assert sorted(set(work)) == ["count_users", "review_history", "status_counts"]  # the deferred work ran
    assert after.index("paint") < min(after.index(e) for e in work)  # ...once the new page was painted

    counts, missing = portal.status_counts(), portal.count_users(Query(statuses=("missing",)))
    assert window.filter_buttons["missing"].text() == f"Missing  {counts['missing']:,}"
    assert window.list_header.text().strip().startswith(f"{missing:,} user")
    first = window.model.row_at(0)
    assert window.current is not None and window.current.id == first.id
    qtbot.waitUntil(lambda: window.preview.content is not None, timeout=5000)
