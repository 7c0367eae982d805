"""The studio's main window: it builds the widgets and connects them to the studio model and to each other.

The state and the rules (query, counts, the shown user and its preview loads, review with undo) are the
Qt-free ``StudioModel``'s (napari's ViewerModel pattern); the window forwards the editor's input to it and shows
what its events say. Listing is the item model's, drawing the preview's, parameter layers the panel's, jobs the
bulk panel's; the widgets themselves are built in ``window_layout``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QItemSelection, QModelIndex, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QResizeEvent, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QAbstractItemView, QInputDialog, QMainWindow, QSplitter, QStackedWidget

from depthstudio.config import Config
from depthstudio.portal.repository import Portal, Query, UserRow, current_reviewer
from depthstudio.portal.reviews import Decision
from depthstudio.portal.shown_map import shown_map
from depthstudio.portal.status import FILTERS, Filter
from depthstudio.studio import photos
from depthstudio.studio.model import SORT_LABELS, ReviewStep, StudioModel, UserShown, filter_count, safe_url
from depthstudio.studio.preview_loading import LoadedPreview
from depthstudio.studio.view_modes import VIEW_MODES
from depthstudio.ui import publish_dialog, user_text
from depthstudio.ui import window_layout as layout
from depthstudio.ui.after_paint import after_paint
from depthstudio.ui.bulk import BackendFactory, BulkPanel, StoreFactory
from depthstudio.ui.change_watcher import ChangeWatcher
from depthstudio.ui.failure_panel import FailuresPanel
from depthstudio.ui.keys import OWN_ARROWS, ArrowKeys
from depthstudio.ui.messages import Message, MessagesPanel
from depthstudio.ui.params_panel import ParamsPanel
from depthstudio.ui.plain import display
from depthstudio.ui.preview import PreviewWidget
from depthstudio.ui.revalidation import PhotoRevalidator
from depthstudio.ui.style import STYLESHEET
from depthstudio.ui.user_list_model import UserListModel, display_name
from depthstudio.ui.userlist import UserListView
from depthstudio.ui.view_state import ViewState
from depthstudio.ui.window_menus import MenuBar
from depthstudio.ui.workers import TaskRunner, describe, write_pool

if TYPE_CHECKING:
    from depthstudio.ui.culling import CullingView

__all__ = ["FILTERS", "MainWindow"]

log = logging.getLogger(__name__)

SEARCH_DEBOUNCE_MS = 250


class _UndoableDecision(QUndoCommand):
    """The model's review decision on the window's undo stack, which it shares with the parameter edits."""

    def __init__(self, decision: ReviewStep) -> None:
        super().__init__(decision.text)
        self.decision = decision

    def redo(self) -> None:
        self.decision.redo()

    def undo(self) -> None:
        self.decision.undo()


class MainWindow(QMainWindow):
    def __init__(
        self,
        portal: Portal,
        config: Config,
        *,
        backend_factory: BackendFactory | None = None,
        store_factory: StoreFactory | None = None,
    ) -> None:
        super().__init__()
        self.portal = portal
        self.config = config
        self.setWindowTitle(f"depthstudio — {'demo portal' if config.is_demo else safe_url(config.portal.url)}")
        self.setStyleSheet(STYLESHEET)
        screen = QGuiApplication.primaryScreen()
        self.resize(layout.first_size(screen.availableGeometry().size()) if screen else layout.PREFERRED_SIZE)
        self.undo_stack = QUndoStack(self)
        self.tasks = TaskRunner(parent=self)
        self.writes = TaskRunner(write_pool(), self)  # decisions, in order (parameters use the same thread)
        self.view_state = ViewState()

        self.model = UserListModel(portal, parent=self)
        self.model.error.connect(lambda text: self.show_error(text, retry=self.apply_query))
        self.model.counted.connect(self._counted)
        self.model.loaded.connect(self._first_page_loaded)
        self.list = UserListView()
        self.list.setModel(self.model)
        self.model.defer = self._after_list_paint  # a new page's COUNT starts once the page is painted
        self.model.thumbnails.defer = self._after_list_paint  # and the thumbnails that paint asked for
        sort = self.view_state.get("list/sort", SORT_LABELS, "name")
        self.studio = StudioModel(portal, config, self.list, self.tasks.submit, self.writes.submit, sort=sort)
        self.studio.prefetch_after = lambda start: after_paint(self.preview, start)
        # The first page's SQL, the slowest part of the first page, runs while the rest of the window is built
        # (its rows land through the event loop, after this constructor). The search box is empty at first.
        self.model.set_query(self.studio.query())
        self.list.selectionModel().currentChanged.connect(self._current_changed)
        self.list.selectionModel().selectionChanged.connect(self._selection_changed)
        # Work the first user's 3D frame does not need waits for it (see _first_user_shown); None once it ran.
        self._until_first_user: list[Callable[[], None]] | None = []

        self.preview = PreviewWidget()
        # Shown, and so given its GL context and first frame (a fifth of a second of software GL), only once the
        # list has painted its first page: see _first_page_loaded.
        self.preview.hide()
        self._preview_revealed = False
        self.preview.gl_failed.connect(self.show_error)
        self.params = ParamsPanel(portal, self.undo_stack, lambda: self.studio.reviewer)
        self.params.selected_ids = self.studio.selected_ids
        self.params.params_changed.connect(self.preview.set_params)
        self.params.message.connect(self.show_message)
        self.bulk = BulkPanel(portal, config, backend_factory, store_factory)
        self.bulk.users_changed.connect(self.studio.users_changed)
        self.bulk.name_of = self.studio.name_of
        self.bulk.message.connect(self.show_error)
        self.bulk.finished.connect(lambda s: self.show_message(s.line()))
        self.bulk.confirm_publish = self.confirm_publish
        self.backend_label = layout.hint("")
        self.backend_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # copy the pip line
        self.bulk.backend_described.connect(lambda text: self.backend_label.setText(f"Depth: {text}"))
        self.bulk.device_explained.connect(self.backend_label.setToolTip)
        self.failures = FailuresPanel(portal, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.failures)
        self.failures.hide()
        self.messages = MessagesPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.messages)
        self.messages.hide()
        self.messages.open_settings.connect(self.open_settings)
        self.failures.go_to_user.connect(self.go_to_user)
        self.failures.retry.connect(lambda ids: self.bulk.generate(ids, title=f"Retry {len(ids)} failed"))
        self.failures.retryable_changed.connect(self.bulk.set_retryable)
        self.bulk.go_to_user.connect(self.go_to_user)
        self.bulk.stopped.connect(lambda *_: self.failures.refresh(show=bool(self.bulk.failures)))
        self._pending_user: str | None = None  # go_to_user's target while its filter loads
        self._logged: set[tuple[str, str]] = set()  # (user id, problem): selecting the user again logs nothing new
        self._observe_studio()

        self._build_layout()
        self._build_actions()
        self.set_view(self.view_state.get("preview/view", VIEW_MODES, "shader"))
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.apply_query)
        self.params.load_defaults()
        self.arrow_keys = ArrowKeys(self, self.move)  # ↑/↓ from any button, chip or slider, not only the list
        self.list.setFocus()
        self.changes = ChangeWatcher(self.studio, self).start()  # other editors' decisions, results and publishes
        # Photos overwritten in place behind the portal's back show as Stale (as the CLI's runs find them).
        self.revalidation = PhotoRevalidator(self.studio, self)
        self._after_first_user(self.revalidation.start)

    def _observe_studio(self) -> None:
        studio = self.studio
        studio.query_changed.connect(self._query_changed)
        studio.counts_changed.connect(self._show_counts)
        studio.failures_changed.connect(lambda _: self.failures.refresh())
        studio.user_shown.connect(self._user_shown)
        studio.preview_loaded.connect(self._preview_ready)
        studio.preview_failed.connect(self._preview_failed)
        studio.rows_changed.connect(self.model.refresh_users)
        studio.rows_changing.connect(self.model.expect_changes)
        studio.message.connect(self.show_message)
        studio.problem.connect(lambda p: self.show_error(p.text, about=p.about, retry=p.retry))

    # The studio model's state, where the window's readers (the culling panel, scripts, tests) have always found it.
    @property
    def current(self) -> UserRow | None:
        return self.studio.current

    @property
    def counts(self) -> dict[str, int]:
        return self.studio.counts

    @property
    def filter(self) -> Filter:
        return self.studio.filter

    @property
    def sort(self) -> str:
        return self.studio.sort

    @property
    def reviewer(self) -> str:
        return self.studio.reviewer

    # --- layout -------------------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        bar = layout.filter_bar(self)
        self.chip_area, self.filter_buttons, self.settings_button = bar.chips, bar.buttons, bar.settings
        for f in FILTERS:
            bar.buttons[f.key].clicked.connect(lambda _=False, key=f.key: self.set_filter(key))
        bar.settings.clicked.connect(self.open_settings)
        left = layout.list_column(self.list, self.studio.sort)
        self.search, self.sort_box, self.list_header = left.search, left.sort_box, left.header
        self.search.textChanged.connect(self._typed)
        self.sort_box.currentIndexChanged.connect(lambda _: self.set_sort(self.sort_box.currentData()))

        header = layout.user_header()
        self.user_title, self.user_info = header.title, header.info
        # The single preview and the culling grid: two views of the list's model and selection (Ctrl+G). The grid
        # is built on first use (see ``culling``): a second GL widget and its panel the first page does not show.
        self._culling: CullingView | None = None
        self.center_stack = QStackedWidget()
        self.center_stack.addWidget(layout.SquareFrame(self.preview))
        views = layout.view_bar(self)
        self.view_buttons, self.zoom_button = views.buttons, views.zoom
        self.motion_button, self.orbit_button = views.motion, views.orbit
        for key, button in views.buttons.items():
            button.clicked.connect(lambda _=False, m=key: self.set_view(m))
        self.zoom_button.toggled.connect(self.preview.set_zoom_1to1)
        self.zoom_button.toggled.connect(lambda _on: self._load_native())
        self.preview.zoom_changed.connect(lambda z: self.zoom_button.setText(f"{z:g}:1" if z >= 1 else f"1:{1 / z:g}"))
        self.motion_button.setChecked(self.preview.motion_enabled)
        self.motion_button.toggled.connect(self.preview.set_motion)
        self.orbit_button.toggled.connect(self.preview.set_orbit)
        review = layout.review_bar()
        self.approve_button, self.reject_button = review.approve, review.reject
        self.reject_note_button, self.generate_button = review.reject_note, review.generate
        review.approve.clicked.connect(lambda: self.decide(Decision.APPROVED))
        review.reject.clicked.connect(lambda: self.decide(Decision.REJECTED))
        review.reject_note.clicked.connect(self.reject_with_note)
        review.generate.clicked.connect(self.generate_selected)
        center = layout.column(
            header.title, header.info, self.center_stack, views.row, review.row, stretch=self.center_stack
        )
        self.side_panel, self.history = layout.side_panel(self.params)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        for i, (column, stretch) in enumerate(((left.widget, 0), (center, 1), (self.side_panel, 0))):
            splitter.addWidget(column)
            splitter.setStretchFactor(i, stretch)
        self.splitter = splitter
        self._splitter_moved = False  # once the editor drags a handle, the columns are theirs
        splitter.splitterMoved.connect(lambda *_: setattr(self, "_splitter_moved", True))
        self._fit_columns()

        # The panels around the GL preview are native child windows: a window holding a QOpenGLWidget flushes
        # every repaint of any widget in it by compositing the whole window on the GPU (on software GL, ~20-35 ms
        # per list repaint at 1480x900); a native child is flushed on its own, as in a window without GL (~6 ms).
        self.native_panels = (bar.widget, left.widget, self.side_panel)
        for panel in self.native_panels:
            panel.setAttribute(Qt.WidgetAttribute.WA_NativeWindow)

        root = layout.column(bar.widget, splitter, self.bulk, stretch=splitter)
        root.layout().setSpacing(0)
        self.setCentralWidget(root)
        self.statusBar().showMessage(f"Reviewer: {self.reviewer}")
        self.statusBar().addPermanentWidget(self.messages.button)
        self.statusBar().addPermanentWidget(self.backend_label)
        # Off the GUI thread: ``auto`` asks the keyring for a Replicate token. A run's own report wins if it came first.
        # After the first user's frame: importing the keyring holds the GIL for about a third of a second.
        self._after_first_user(
            lambda: self.tasks.submit(
                lambda: _planned_backend(self.config),
                lambda text: self.backend_label.text() or self.backend_label.setText(f"Depth: {text}"),
            )
        )

    def _build_actions(self) -> None:
        """Every action lives in the menu bar with its key; the shortcut overlay (?) is generated from the menus.

        The keys are window-wide; a focused text field takes its typing first (Qt's ShortcutOverride), so
        searching for "Alex" never approves anyone, and Escape, Return or Down hand the keys back to the list.
        """
        bar = self._menu_bar = MenuBar(self, self._guard)
        self.menus = bar.menus
        act = bar.act
        act("File", "Settings…", ("Ctrl+,",), self.open_settings)
        bar.separator("File")
        act("File", "Quit", ("Ctrl+Q",), self.close)
        for i, f in enumerate(FILTERS):
            act("View", f"Show {f.label}", (str(i + 1),) if i < 9 else (), lambda f=f: self.set_filter(f.key))
        bar.separator("View")
        act("View", "Search", ("Ctrl+F", "/"), self.focus_search)
        for mode in VIEW_MODES.values():
            act("View", f"View: {mode.label}", (), lambda m=mode.key: self.set_view(m))
        act("View", "Motion on/off", ("Space",), self.motion_button.toggle)
        act("View", "Auto-orbit on/off", ("O",), self.orbit_button.toggle)
        act("View", "Zoom 1:1 on/off", ("Z",), self.zoom_button.toggle)
        act("View", "Culling grid / single view", ("Ctrl+G",), self.toggle_grid)
        undo = self.undo_stack.createUndoAction(self, "Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_stack.createRedoAction(self, "Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        act("Review", "Next user", ("J",), lambda: self.move(1))
        act("Review", "Previous user", ("K",), lambda: self.move(-1))
        act("Review", "Approve", ("A", "P"), lambda: self.decide(Decision.APPROVED))
        act("Review", "Reject", ("X", "R"), lambda: self.decide(Decision.REJECTED))
        act("Review", "Reject with note…", ("Shift+X", "Shift+R"), self.reject_with_note)
        act("Review", "Generate selected", ("G",), self.generate_selected)
        act("Review", "Touch up…", ("T",), self.touch_up)
        bar.separator("Review")
        bar.add("Review", undo)
        bar.add("Review", redo)
        bar.separator("Review")
        act("Review", "Generate missing", (), self.bulk.generate_button.click)
        act("Review", "Publish approved", (), self.bulk.publish_button.click)
        act("Review", "Undo publish of selected…", (), self.undo_publish)
        act("View", "Failed users…", ("F",), lambda: self.failures.refresh(show=True))
        act("View", "Messages…", ("M",), self.messages.toggle)
        act("Help", "Keyboard shortcuts", ("?", "F1"), self.show_shortcuts)
        act("Help", "About depthstudio", (), self.show_about)
        self.search.installEventFilter(self)

    def shortcut_table(self) -> list[tuple[str, str, str]]:
        """(menu, action, keys) for every action in the menu bar: the overlay's content, so it never drifts."""
        return self._menu_bar.table()

    def show_shortcuts(self) -> None:
        from depthstudio.ui.shortcuts import ShortcutOverlay

        self.shortcut_overlay = ShortcutOverlay(self.shortcut_table(), self)
        self.shortcut_overlay.show()

    def show_about(self) -> None:
        from depthstudio.ui.about import AboutDialog

        backend = self.backend_label.text().removeprefix("Depth: ")
        self.about_dialog = AboutDialog(self.config, backend, self)
        self.about_dialog.show()

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def eventFilter(self, watched: Any, event: Any) -> bool:
        # Escape clears the search; Escape, Return and Down leave the box: the keys go back to the list.
        leave = (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Down)
        if watched is self.search and event.type() == QEvent.Type.KeyPress and event.key() in leave:
            if event.key() == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
            if self._search_timer.isActive():
                self.apply_query()
            self.list.setFocus()
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: Any) -> None:
        """Keys no widget took: Escape closes one thing per press (the shortcut overlay, the panel with the focus,
        then the Messages and the Failures panels), else clears the search; ↑/↓ move."""
        if event.key() == Qt.Key.Key_Escape:
            overlay = getattr(self, "shortcut_overlay", None)
            focus = self.focusWidget()
            panels = [p for p in (self.messages, self.failures) if p.isVisible()]
            panels.sort(key=lambda p: not (focus is not None and p.isAncestorOf(focus)))
            if overlay is not None and overlay.isVisible():
                overlay.close()
            elif panels:
                panels[0].hide()
            elif self.search.text():
                self.search.clear()
                self.apply_query()
            self.list.setFocus()
            return
        step = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1}.get(event.key())
        if step is not None and not event.modifiers():
            self.move(step)
            return
        super().keyPressEvent(event)

    def _guard(self, slot: Any) -> Any:
        """A slot that reports its failure in the status bar instead of raising into Qt."""

        def run() -> None:
            try:
                slot()
            except Exception as exc:
                log.error("action failed", exc_info=exc)
                self.show_error(describe(exc))

        return run

    # --- messages -----------------------------------------------------------------------------------------

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(display(text), 8000)

    def show_error(self, text: str, *, about: str | None = None, retry: Callable[[], None] | None = None) -> None:
        """Show ``text`` in the status bar and keep it whole in the message area (with ``retry`` as its Retry);
        log and keep it unless it is the same problem of the same user (``about``) seen before."""
        if about is None or (about, text) not in self._logged:
            log.warning("%s", text)
            if about is not None:
                self._logged.add((about, text))
            self.messages.add(Message(text, about=self.studio.name_of(about) if about else "", retry=retry))
        self.statusBar().showMessage(f"⚠ {display(text)}", 15000)

    def undo_publish(self) -> None:
        from depthstudio.ui.unpublish_dialog import undo_publish  # with the unpublish job: on first use, not at start

        undo_publish(self.studio, self)

    def touch_up(self) -> None:
        """The touch-up panel on the shown result; saving reloads the user with the new result."""
        row = self.current
        result_id = shown_map(row, reviewing=True).result_id if row is not None else None
        from depthstudio.ui.touchup_panel import open_touchup  # with the touch-up engine: on first use, not at start

        panel = open_touchup(self.portal, result_id, self.preview.content, self.preview, self)
        if panel is None:
            self.show_error("Nothing to touch up: this user has no depth result of their current photo")
            return
        assert row is not None  # a panel opens only on a shown result
        panel.saved.connect(lambda _new_id, uid=row.id: self.studio.users_changed([uid]))  # row, counts, preview
        self.touchup_panel = panel

    def retry_user(self, user_id: str) -> None:
        """Load a user's preview again (after a failed read): selected if shown, else found like go_to_user."""
        if self.current is not None and self.current.id == user_id:
            self.studio.show_user(self.current)
        else:
            self.go_to_user(user_id)

    # --- querying -----------------------------------------------------------------------------------------

    def _typed(self, text: str) -> None:
        self.studio.set_search(text)
        self._search_timer.start()

    def apply_query(self) -> None:
        self.studio.apply_query()

    def _query_changed(self, query: Query) -> None:
        self._search_timer.stop()
        self.list_header.setText("Loading…")
        self.model.set_query(query)  # the filter counts follow the first page (see _first_page_loaded)

    def set_filter(self, key: str) -> None:
        self.filter_buttons[key].setChecked(True)
        self.studio.set_filter(key)

    def set_sort(self, sort: str) -> None:
        self.view_state.set("list/sort", sort)
        blocked = self.sort_box.blockSignals(True)  # when set from code the box says so, without asking again
        self.sort_box.setCurrentIndex(self.sort_box.findData(sort))
        self.sort_box.blockSignals(blocked)
        self.studio.set_sort(sort)

    def _after_list_paint(self, start: Callable[[], None]) -> None:
        after_paint(self.list.viewport(), start)

    def _show_counts(self, counts: dict[str, int]) -> None:
        for f in FILTERS:
            self.filter_buttons[f.key].setText(f"{f.label}  {filter_count(f, counts):,}")
        self.chip_area.refresh()
        # The header follows the chip: the list keeps a decided user in place (no jump under the cursor), but
        # the number says how many still match, as the chip does.
        self._counted(self.studio.shown_count())

    def _counted(self, n: int) -> None:
        self.list_header.setText(f"  {n:,} user{'s' if n != 1 else ''} · {self.filter.label.lower()}")

    def _first_page_loaded(self) -> None:
        # The counts and the first user's preview start once the list has painted this page: worker threads
        # share the GIL with the paint (see ui.after_paint).
        self.studio.defer = self._after_list_paint
        try:
            self._select_on_first_page()
        finally:
            self.studio.defer = None
        if not self._preview_revealed:
            self._preview_revealed = True
            # Posted from the paint's queue, so the preview's GL setup runs after the reads above have started
            # on the workers (its first-use cost overlaps theirs) rather than before them.
            self._after_list_paint(lambda: QTimer.singleShot(0, self, self.preview.show))

    def _after_first_user(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once the first user's preview (or the reason there is none) is on screen."""
        if self._until_first_user is None:
            fn()
        else:
            self._until_first_user.append(fn)

    def _first_user_shown(self) -> None:
        queued, self._until_first_user = self._until_first_user, None
        if queued:
            after_paint(self.preview, lambda: [fn() for fn in queued])

    def _select_on_first_page(self) -> None:
        self.studio.refresh_counts()
        if self._pending_user is not None:
            self._land_on(self._pending_user)
            return
        # The user being looked at stays selected when the list is re-queried (clearing the search, say).
        keep = self.model.index_of(self.current.id) if self.current is not None else QModelIndex()
        if keep.isValid() and not self.list.currentIndex().isValid():
            self.list.setCurrentIndex(keep)
        elif self.model.rowCount() and not self.list.currentIndex().isValid():
            self.list.setCurrentIndex(self.model.index(self.studio.landing_row()))
        elif not self.model.rowCount():
            self.studio.show_user(None)

    # --- selection and preview ----------------------------------------------------------------------------

    def selected_ids(self) -> list[str]:
        return self.studio.selected_ids()

    def _selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        n = len(self.list.selectionModel().selectedIndexes())
        if n > 1:
            self.show_message(f"{n} users selected: approve, reject, generate and copy apply to all of them")

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        # A filter change resets the model (no current row) and then selects the first row of the new page;
        # keeping the old preview in between spares a blank flash and, if that user is first again, a reload.
        if not current.isValid():
            return
        self.list.scrollTo(current, QAbstractItemView.ScrollHint.EnsureVisible)
        row = self.model.row_at(current.row())
        if row != self.current or self.preview.content is None:
            self.studio.show_user(row)

    def go_to_user(self, user_id: str) -> None:
        """Select a user (from the failures view): in the list if shown, else under the Failed filter."""
        if self.model.index_of(user_id).isValid():
            self._land_on(user_id)
            return
        self._pending_user = user_id
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.studio.set_search("")
        self.set_filter("failed")

    def _land_on(self, user_id: str) -> None:
        self._pending_user = None
        index = self.model.index_of(user_id)
        if index.isValid():
            self.list.setCurrentIndex(index)
        else:  # not on the first page: show it anyway
            self.list.clearSelection()
            self.studio.show_user_by_id(user_id)
        self.list.setFocus()

    def move(self, step: int) -> None:
        index = self.list.currentIndex()
        row = (index.row() + step) if index.isValid() else 0
        if row >= self.model.rowCount() and self.model.canFetchMore():
            self.model.fetchMore()
        row = max(0, min(row, self.model.rowCount() - 1))
        if self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(row))

    def _user_shown(self, shown: UserShown) -> None:
        row = shown.row
        if row is None:
            self.user_title.setText("")
            self.user_info.setText("")
            self.preview.set_content(None, "No users match this filter")
            self.params.set_user(None)
            self.history.clear()
            self._first_user_shown()
            return
        if shown.moved:
            self.statusBar().clearMessage()  # the last user's messages are not this one's
        self.user_title.setText(display_name(row, self.model.repeated(row)))
        self.user_info.setText(display(user_text.describe_row(row)))
        self.params.set_user(row.id)

    def _preview_ready(self, loaded: LoadedPreview) -> None:
        content = loaded.content
        self.history.clear()
        self.history.addItems([display(line) for line in user_text.history_lines(loaded.history)])
        self.preview.set_content(content, loaded.note)
        self._load_native()
        if content is not None and loaded.note:
            self.show_error(loaded.note, about=self.current.id if self.current else None)
        for mode in VIEW_MODES.values():
            if mode.needs_compare:
                why_not = mode.unavailable(content)
                self.view_buttons[mode.key].setEnabled(why_not is None)
                self.view_buttons[mode.key].setToolTip(why_not or mode.tip)
        self._first_user_shown()

    def _load_native(self) -> None:
        """In the 1:1 view, the shown user's photo at its own pixel size, read on the worker."""
        row, content = self.current, self.preview.content
        if not self.zoom_button.isChecked() or row is None or not row.avatar or content is None:
            return
        generation, avatar, policy = self.studio.preview_generation, row.avatar, self.portal.config.fetch.policy()
        h, w = content.depth.shape if content.depth is not None else (content.photo.height, content.photo.width)

        def ready(photo: Any) -> None:
            if generation == self.studio.preview_generation:
                self.preview.set_native_photo(photo)

        self.tasks.submit(lambda: photos.native_photo(avatar, w, h, policy), done=ready)

    def _preview_failed(self, exc: BaseException) -> None:
        text = describe(exc)
        self.preview.set_content(None, f"Cannot show this user: {text}")
        uid = self.current.id if self.current else None
        self.show_error(text, about=uid, retry=(lambda: self.retry_user(uid)) if uid else None)
        self._first_user_shown()

    @property
    def culling(self) -> CullingView:
        """The culling view, built the first time it is asked for."""
        if self._culling is None:
            from depthstudio.ui.culling import CullingView

            view = CullingView(self.model, self.list.selectionModel())
            view.grid.setProperty(OWN_ARROWS, True)  # its arrows move by tile and by row of tiles
            view.grid.set_params(self.params.current())
            self.params.params_changed.connect(view.grid.set_params)
            self.center_stack.addWidget(view)
            self._culling = view
        return self._culling

    def toggle_grid(self) -> None:
        """Switch between the single preview and the culling grid; the selection is the same in both."""
        grid = self.center_stack.currentIndex() == 0
        self.center_stack.setCurrentWidget(self.culling if grid else self.center_stack.widget(0))
        self.side_panel.setVisible(not grid)  # the grid takes the parameters' room; its panel has the facts
        (self.culling.grid if grid else self.list).setFocus()
        self.culling.refresh_metadata()

    def set_view(self, mode: str) -> None:
        self.view_buttons[mode].setChecked(True)
        self.preview.set_mode(mode)
        self.view_state.set("preview/view", mode)

    # --- review -------------------------------------------------------------------------------------------

    def decide(self, decision: str, note: str | None = None) -> None:
        selected = len(self.studio.selected_rows())
        command = self.studio.review(decision, note)
        if command is None:
            return
        self.undo_stack.push(_UndoableDecision(command))
        if selected == 1:
            self.move(1)

    def reject_with_note(self) -> None:
        if not self.studio.reviewable_rows():
            return
        note, ok = QInputDialog.getText(self, "Reject", "Why? (optional, shown to whoever regenerates it)")
        if ok:
            self.decide(Decision.REJECTED, note.strip() or None)

    def confirm_publish(self) -> bool:
        return publish_dialog.confirm_publish(self.studio, self)

    def generate_selected(self) -> None:
        rows = [r for r in self.studio.selected_rows() if r.avatar]
        if not rows:
            self.show_message("select users with a photo to generate their depth maps")
            return
        self.bulk.generate([r.id for r in rows], title=f"Generate {len(rows)} selected")

    # --- settings and closing -----------------------------------------------------------------------------

    def open_settings(self) -> None:
        from depthstudio.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.config, self)
        crop = self.config.web.display_crop
        if dialog.exec():
            self.studio.reviewer = current_reviewer(self.config)
            if self.config.web.display_crop != crop:  # list and preview show each avatar as the website crops it
                self.model.thumbnails.clear()
                self.list.viewport().update()
                self.studio.previews.clear()  # loaded (and loaded ahead) through the old crop
                self.studio.show_user(self.current)
            self.show_message(f"settings saved to {dialog.saved_path}; restart the studio to use a new portal")

    def _fit_columns(self) -> None:
        """The list and the parameters take what they need of this width; the preview takes the rest."""
        width = self.splitter.width() if self.splitter.isVisible() else self.width()
        left = max(self.list.minimumWidth(), min(350, round(width * 0.24)))
        right = max(layout.SIDE_MIN_WIDTH, min(400, round(width * 0.27)))
        self.splitter.setSizes([left, max(0, width - left - right), right])

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._splitter_moved:
            self._fit_columns()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.changes.stop()
        self.revalidation.stop()
        self.params.flush()
        if self.bulk.running:
            self.bulk.cancel()
            self.bulk.controller.wait(10.0)
        self.preview.set_motion(False)
        self.preview.release_gl()
        if self._culling is not None:
            self._culling.grid.release_gl()
        self.tasks.pool.waitForDone(5000)
        self.writes.pool.waitForDone(5000)
        super().closeEvent(event)


def _planned_backend(config: Config) -> str:
    from depthstudio.depth.factory import planned  # late, as the bulk panel's: a broken install still opens

    return planned(config)
