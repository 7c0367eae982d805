"""What the window's first page and first 3D frame wait for: nothing they do not need (issue 13's speed targets).

Each test records the order of events through the real window; none times anything.
"""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.portal.repository import Portal, UserRow
from depthstudio.studio import model as studio_model
from depthstudio.studio import photos, preview_loading
from depthstudio.ui import main_window
from depthstudio.ui.main_window import MainWindow
from depthstudio.ui.preview import PreviewWidget
from depthstudio.ui.user_list_model import UserListModel
from tests.ui.conftest import require_gl


class _Paints(QObject):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.events.append("list paint")
        return False


def _open(qtbot, portal, events: list[str]) -> MainWindow:
    """A shown window whose list's paints are in ``events`` from the first one on."""
    window = MainWindow(portal, portal.config, backend_factory=lambda _cfg: SyntheticBackend())
    qtbot.addWidget(window)
    window.paints = _Paints(events)  # kept alive with the window
    window.list.viewport().installEventFilter(window.paints)
    window.model.rowsInserted.connect(lambda *_: events.append("rows"))
    window.resize(1480, 900)
    window.show()
    return window


def _settle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and not window.model.busy, timeout=10000)
    qtbot.waitUntil(lambda: not window.tasks.pending, timeout=10000)
    window.tasks.pool.waitForDone(5000)
    window.writes.pool.waitForDone(5000)


def test_the_first_pages_query_is_asked_before_the_window_builds_its_panels(qtbot, portal, monkeypatch):
    events: list[str] = []
    set_query, build_preview = UserListModel.set_query, PreviewWidget.__init__
    monkeypatch.setattr(UserListModel, "set_query", lambda self, q: (events.append("page asked"), set_query(self, q)))

    def build(self: PreviewWidget, *args: object) -> None:
        events.append("preview")
        build_preview(self, *args)

    monkeypatch.setattr(PreviewWidget, "__init__", build)
    window = _open(qtbot, portal, [])
    _settle(qtbot, window)
    assert events[:2] == ["page asked", "preview"]  # its SQL runs on a worker while the panels are built


def test_the_preview_gets_its_gl_context_after_the_list_painted_the_first_page(qtbot, portal, monkeypatch):
    events: list[str] = []
    initialize = PreviewWidget.initializeGL
    monkeypatch.setattr(PreviewWidget, "initializeGL", lambda self: (events.append("preview GL"), initialize(self)))
    window = _open(qtbot, portal, events)
    qtbot.waitUntil(lambda: "preview GL" in events, timeout=10000)
    _settle(qtbot, window)
    require_gl(window)
    rows = events.index("rows")
    assert "list paint" in events[rows : events.index("preview GL")]  # the page was on screen first
    assert window.preview.isVisible()


def test_the_backend_lookup_waits_for_the_first_users_3d_frame(qtbot, portal, seeded, monkeypatch):
    events: list[str] = []
    paint = PreviewWidget.paintGL

    def painted(self: PreviewWidget) -> None:
        paint(self)
        if self.has_depth:
            events.append("3D frame")

    monkeypatch.setattr(PreviewWidget, "paintGL", painted)
    # The real one imports the keyring (a third of a second holding the GIL) on a worker.
    monkeypatch.setattr(main_window, "_planned_backend", lambda _config: events.append("backend") or "planned")
    window = _open(qtbot, portal, [])
    qtbot.waitUntil(lambda: "backend" in events, timeout=10000)
    _settle(qtbot, window)
    require_gl(window)
    assert window.current is not None and window.current.id in seeded  # the landing user has a map
    assert "3D frame" in events[: events.index("backend")]
    qtbot.waitUntil(lambda: window.backend_label.text() == "Depth: planned", timeout=5000)


def test_the_preview_textures_are_made_on_the_loading_thread(qtbot, portal, seeded, monkeypatch):
    threads: list[bool] = []
    layered = preview_loading.layered_textures

    def made(*args: object) -> object:
        threads.append(threading.current_thread() is threading.main_thread())
        return layered(*args)

    monkeypatch.setattr(preview_loading, "layered_textures", made)
    window = _open(qtbot, portal, [])
    drawn: list[bool] = []
    window.preview.frame_drawn.connect(lambda: window.preview.has_depth and drawn.append(True))
    _settle(qtbot, window)
    require_gl(window)
    qtbot.waitUntil(lambda: bool(drawn), timeout=10000)
    assert threads and not any(threads)  # the plate and matte of this result were derived off the GUI thread


def test_the_culling_grid_is_built_when_first_shown_with_the_parameters_on_screen(qtbot, make_window, seeded):
    from depthstudio.ui.culling import CullingGrid

    window = make_window()
    assert window.findChildren(CullingGrid) == []  # nothing of the grid before the first Ctrl+G
    window.params.rows["horizontal_threshold"].slider.setValue(40)
    qtbot.keyClick(window.list, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.center_stack.currentWidget() is window.culling and window.culling.grid.isVisible()
    assert window.findChildren(CullingGrid) == [window.culling.grid]
    assert window.culling.grid.params == window.params.current()  # the edit made before it existed
    window.params.rows["horizontal_threshold"].slider.setValue(60)  # and the ones after
    assert window.culling.grid.params == window.params.current()
    qtbot.keyClick(window.culling.grid, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.center_stack.currentIndex() == 0


def test_the_thumbnails_a_paint_asks_for_start_decoding_once_that_paint_is_done(qtbot, make_window, monkeypatch):
    window = make_window()
    cache = window.model.thumbnails
    # The first page's own thumbnails landed: none of them is still being decoded when this paint is counted.
    qtbot.waitUntil(lambda: not window.model.busy and not cache._loading and not cache._tasks.pending, timeout=10000)
    decoded: list[str] = []
    thumbnail = photos.thumbnail
    monkeypatch.setattr(photos, "thumbnail", lambda source, *a: (decoded.append(source), thumbnail(source, *a))[1])
    cache._images.clear()  # as on a first page: every row on screen needs its thumbnail
    started = _RecordingPool(cache._tasks.pool)  # the gate: a decode can begin only once handed to the pool
    cache._tasks.pool = started
    window.list.viewport().repaint()  # asks for them; returns with the paint done and no event handled since
    assert cache._loading  # the paint did ask
    assert started.tasks == [] and decoded == []  # but handed nothing to a thread while it painted
    shown = [window.model.row_at(i).avatar for i in range(min(5, window.model.rowCount()))]
    qtbot.waitUntil(lambda: all(window.model.thumbnails.get(a) is not None for a in shown if a), timeout=10000)
    assert decoded and started.tasks  # they were decoded after the paint, through the pool


def test_the_neighbours_are_prefetched_once_the_selected_users_frame_is_painted(qtbot, portal, seeded, monkeypatch):
    events: list[str] = []
    load, paint = studio_model.load_preview, PreviewWidget.paintGL

    def loading(portal_: Portal, row: UserRow) -> tuple[Any, ...]:
        events.append(f"load {row.id}")
        return load(portal_, row)

    def painted(self: PreviewWidget) -> None:
        paint(self)
        current = self.window().current if isinstance(self.window(), MainWindow) else None
        if self.content is not None and current is not None:
            events.append(f"frame {current.id}")

    monkeypatch.setattr(studio_model, "load_preview", loading)
    monkeypatch.setattr(PreviewWidget, "paintGL", painted)
    window = _open(qtbot, portal, [])
    _settle(qtbot, window)
    require_gl(window)
    first = window.current
    assert first is not None
    qtbot.waitUntil(lambda: len([e for e in events if e.startswith("load")]) >= 2, timeout=10000)
    _settle(qtbot, window)
    shown = events.index(f"frame {first.id}")
    neighbours = [i for i, e in enumerate(events) if e.startswith("load") and e != f"load {first.id}"]
    assert neighbours and min(neighbours) > shown  # the first user's frame did not share the GIL with them


def test_the_panels_around_the_gl_preview_are_flushed_as_their_own_native_windows(qtbot, portal):
    """A window holding a QOpenGLWidget composites its whole surface on the GPU for any widget's repaint; the
    list, the chips and the parameter panel live in native child windows, so their repaints skip that."""
    window = _open(qtbot, portal, [])
    _settle(qtbot, window)
    qtbot.waitUntil(window.preview.isValid, timeout=10000)
    require_gl(window)
    gl_window = _native_ancestor(window.preview).windowHandle()  # the native window that composites the GL
    for widget in (window.list, window.chip_area, window.params):
        handle = _native_ancestor(widget).windowHandle()
        assert handle is not None and handle is not gl_window, widget


class _RecordingPool:
    """A thread pool that notes each task handed to it before passing it on."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.tasks = pool, []

    def start(self, task: Any, priority: int = 0) -> None:
        self.tasks.append(task)
        self.pool.start(task, priority)


def _native_ancestor(widget: Any) -> Any:
    """The nearest widget (the widget itself or a parent) that has its own native window."""
    while widget is not None and not (widget.isWindow() or widget.testAttribute(Qt.WidgetAttribute.WA_NativeWindow)):
        widget = widget.parentWidget()
    return widget
