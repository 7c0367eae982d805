"""The studio's main window: filters and the user list, the live preview, review actions, parameters, bulk jobs.

The window only wires things together: listing is the model's, drawing the preview's, parameter layers the
panel's, jobs the bulk panel's. Everything that touches the database or the disk runs on a worker thread; a
load that comes back for a user who is no longer selected is dropped (generation counters).
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QItemSelection, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QResizeEvent, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from depthstudio.config import Config
from depthstudio.depth.postprocess import decode_png
from depthstudio.errors import DepthstudioError
from depthstudio.imaging.crop import through_display_crop
from depthstudio.jobs.failures import explain
from depthstudio.portal.repository import Portal, Query, ResultRow, UserRow, current_reviewer
from depthstudio.portal.reviews import Decision
from depthstudio.portal.shown_map import shown_map
from depthstudio.portal.status import FILTERS, Filter, status_label
from depthstudio.render.result_layers import stored_layers
from depthstudio.render.web_export import layers_through_display_crop, render_inputs
from depthstudio.ui import photos
from depthstudio.ui.after_paint import after_paint
from depthstudio.ui.bulk import BackendFactory, BulkPanel, StoreFactory
from depthstudio.ui.changes import ChangeWatcher
from depthstudio.ui.chipbar import ChipBar
from depthstudio.ui.elided import ElidedLabel
from depthstudio.ui.failures import FailuresPanel
from depthstudio.ui.flow import FlowLayout
from depthstudio.ui.keys import OWN_ARROWS, ArrowKeys
from depthstudio.ui.messages import Message, MessagesPanel
from depthstudio.ui.models import UserListModel, display_name
from depthstudio.ui.params_panel import ParamsPanel
from depthstudio.ui.plain import display
from depthstudio.ui.preview import PreviewContent, PreviewWidget, shader_textures
from depthstudio.ui.revalidation import PhotoRevalidator
from depthstudio.ui.sources import depth_source
from depthstudio.ui.style import STYLESHEET
from depthstudio.ui.userlist import UserListView
from depthstudio.ui.view_state import ViewState
from depthstudio.ui.workers import TaskRunner, describe, write_pool

if TYPE_CHECKING:
    from depthstudio.ui.culling import CullingView

log = logging.getLogger(__name__)

SEARCH_DEBOUNCE_MS = 250
PREFETCH_KEEP = 8  # loaded previews kept (the current user and its neighbours): about 1 MB each
PHOTO_SIZE = 512  # the preview photo when a user has no depth map to take the frame from


SIDE_MIN_WIDTH = 280  # the parameters' column at its narrowest: its rows then put the label over the slider

# "cleared" is what an undo (or `review --clear`) records: said so, since it reads as nothing having happened.
HISTORY_WORDS = {Decision.CLEARED: "decision cleared (back to awaiting review)"}

SORT_LABELS = {"name": "Name", "recent": "Most recent", "attention": "Needs attention", "risk": "QA risk"}


def _filter_count(f: Filter, counts: dict[str, int]) -> int:
    """How many users a filter chip matches, from ``Portal.status_counts``."""
    if f.flagged:
        return counts.get("flagged", 0)
    if not f.statuses:
        return counts.get("all", 0)
    return sum(counts.get(s, 0) for s in f.statuses)


class _Decision(QUndoCommand):
    """A review decision on some users; undo restores each user's previous decision (a new, audited row)."""

    def __init__(self, window: MainWindow, rows: list[UserRow], decision: str, note: str | None) -> None:
        super().__init__(f"{decision} {len(rows)} user{'s' if len(rows) != 1 else ''}")
        self.window = window
        self.ids = [r.id for r in rows]
        self.decision, self.note = decision, note
        # Only a decision can be restored; an "unpublished" history entry restores as no decision.
        self.before = {r.id: (r.decision if r.decision in ("approved", "rejected") else None, r.note) for r in rows}
        # The maps the editor saw: a user regenerated meanwhile is skipped rather than judged unseen.
        self.shown = {r.id: r.result_id for r in rows if r.result_id is not None}

    def redo(self) -> None:
        self.window.record_decisions([(self.ids, self.decision, self.note)], self.shown)

    def undo(self) -> None:
        groups: dict[tuple[str, str | None], list[str]] = {}
        for uid, (decision, note) in self.before.items():
            groups.setdefault((decision or Decision.CLEARED, note), []).append(uid)
        self.window.record_decisions([(ids, d, n) for (d, n), ids in groups.items()], self.shown)


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
        self.reviewer = current_reviewer(config)
        self.setWindowTitle(f"depthstudio — {'demo portal' if config.is_demo else _safe_url(config.portal.url)}")
        self.setStyleSheet(STYLESHEET)
        self.resize(1480, 900)
        self.undo_stack = QUndoStack(self)
        self.tasks = TaskRunner(parent=self)
        self.writes = TaskRunner(write_pool(), self)  # decisions, in order (parameters use the same thread)
        self.current: UserRow | None = None
        self._preview_generation = 0
        self._reload_generation = 0  # bumped by every reload and selection: only the latest reload may land
        self._counts_generation = 0
        self.filter = FILTERS[0]
        self.view_state = ViewState()
        self.sort = self.view_state.get("list/sort", SORT_LABELS, "name")

        self.model = UserListModel(portal, parent=self)
        self.model.error.connect(lambda text: self.show_error(text, retry=self.apply_query))
        self.model.counted.connect(self._counted)
        self.model.loaded.connect(self._first_page_loaded)
        self.list = UserListView()
        self.list.setModel(self.model)
        self.model.defer = self._after_list_paint  # a new page's COUNT starts once the page is painted
        self.model.thumbnails.defer = self._after_list_paint  # and the thumbnails that paint asked for
        self._first_page = False  # inside _first_page_loaded: work it starts waits for the list's paint
        # The first page's SQL, the slowest part of the first page, runs while the rest of the window is built
        # (its rows land through the event loop, after this constructor). The search box is empty at first.
        self.model.set_query(Query(statuses=self.filter.statuses, flagged=self.filter.flagged, sort=self.sort))
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
        self.params = ParamsPanel(portal, self.undo_stack, self.reviewer)
        self.params.selected_ids = self.selected_ids
        self.params.params_changed.connect(self.preview.set_params)
        self.params.message.connect(self.show_message)
        self.bulk = BulkPanel(portal, config, backend_factory, store_factory)
        self.bulk.users_changed.connect(self._users_changed)
        self.bulk.name_of = self._name_of
        self.bulk.message.connect(self.show_error)
        self.bulk.finished.connect(lambda s: self.show_message(s.line()))
        self.bulk.confirm_publish = self.confirm_publish
        self.backend_label = QLabel("")
        self.backend_label.setObjectName("hint")
        self.backend_label.setTextFormat(Qt.TextFormat.PlainText)
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
        self._opened = False  # the first page has landed once (see _landing_row)
        self.counts: dict[str, int] = {}
        self._prefetched: OrderedDict[tuple[str, str], tuple[Any, ...]] = OrderedDict()
        self._prefetching: set[tuple[str, str]] = set()
        self._user_changes: Counter[str] = Counter()  # per user, bumped by every change noticed (a decision, a job)
        self._logged: set[tuple[str, str]] = set()  # (user id, problem): selecting the user again logs nothing new

        self._build_layout()
        self._build_actions()
        self.set_view(self.view_state.get("preview/view", self.view_buttons, "shader"))
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.apply_query)
        self.params.load_defaults()
        self.arrow_keys = ArrowKeys(self, self.move)  # ↑/↓ from any button, chip or slider, not only the list
        self.list.setFocus()
        self.changes = ChangeWatcher(self).start()  # other editors' decisions, results and publishes show here
        # Photos overwritten in place behind the portal's back show as Stale (as the CLI's runs find them).
        self.revalidation = PhotoRevalidator(self, self)
        self._after_first_user(self.revalidation.start)

    # --- layout -------------------------------------------------------------------------------------------

    def _build_layout(self) -> None:
        bar = QWidget()
        bar.setObjectName("filterBar")
        bar_layout = QHBoxLayout(bar)
        bar_layout.setContentsMargins(8, 6, 8, 6)
        bar_layout.setSpacing(4)
        # The chips that do not fit go into a menu with their counts: a chip never widens the window or is cut.
        self.chip_area = ChipBar()
        bar_layout.addWidget(self.chip_area, 1)
        self.filter_group = QButtonGroup(self)
        self.filter_buttons: dict[str, QToolButton] = {}
        for i, f in enumerate(FILTERS):
            button = QToolButton()
            button.setObjectName("chip")
            button.setCheckable(True)
            button.setText(f.label)
            button.setToolTip(f"{f.label} (key {i + 1})" if i < 9 else f.label)
            button.clicked.connect(lambda _=False, f=f: self.set_filter(f.key))
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self.filter_group.addButton(button)
            self.filter_buttons[f.key] = button
            self.chip_area.add(button)
        self.filter_buttons["all"].setChecked(True)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(120)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self.sort_box = QComboBox()
        for key, label in SORT_LABELS.items():
            self.sort_box.addItem(label, key)
        self.sort_box.setCurrentIndex(self.sort_box.findData(self.sort))
        self.sort_box.currentIndexChanged.connect(lambda _: self.set_sort(self.sort_box.currentData()))
        settings = QPushButton("Settings…")
        settings.clicked.connect(self.open_settings)
        settings.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bar_layout.addWidget(settings)

        # Search and sort sit over the list they act on, so the chips get the window's whole width and show whole.
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        query_row = QHBoxLayout()
        query_row.setContentsMargins(4, 4, 0, 0)
        query_row.addWidget(self.search, 1)
        query_row.addWidget(self.sort_box)
        left_layout.addLayout(query_row)
        self.list_header = QLabel("Loading…")
        self.list_header.setObjectName("hint")
        left_layout.addWidget(self.list_header)
        left_layout.addWidget(self.list, 1)

        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(0, 0, 0, 0)
        self.user_title = ElidedLabel("")
        self.user_title.setObjectName("userTitle")
        self.user_info = QLabel("")
        self.user_info.setObjectName("hint")
        self.user_info.setWordWrap(True)
        for label in (self.list_header, self.user_title, self.user_info):
            label.setTextFormat(Qt.TextFormat.PlainText)  # names and notes are written by strangers
        # Two lines' height whatever the text: the preview and the buttons below never move under the pointer.
        self.user_info.setFixedHeight(self.user_info.fontMetrics().lineSpacing() * 2 + 4)
        self.user_info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        center_layout.addWidget(self.user_title)
        center_layout.addWidget(self.user_info)
        # The single preview and the culling grid: two views of the list's model and selection (Ctrl+G). The grid
        # is built on first use (see ``culling``): a second GL widget and its panel the first page does not show.
        self._culling: CullingView | None = None
        self.center_stack = QStackedWidget()
        self.center_stack.addWidget(SquareFrame(self.preview))
        center_layout.addWidget(self.center_stack, 1)
        center_layout.addLayout(self._view_bar())
        center_layout.addLayout(self._review_bar())

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.params)
        history_title = QLabel("Review history")
        history_title.setObjectName("sectionTitle")
        history_title.setContentsMargins(8, 8, 8, 0)
        self.history = QListWidget()
        self.history.setObjectName("history")
        # Long entries wrap: a note is read whole, and no sideways scroll bar appears for it.
        self.history.setWordWrap(True)
        self.history.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history.setResizeMode(QListWidget.ResizeMode.Adjust)
        side_layout.addWidget(history_title)
        side_layout.addWidget(self.history, 1)
        right = QScrollArea()
        right.setWidgetResizable(True)
        right.setWidget(side)
        right.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right.setMinimumWidth(SIDE_MIN_WIDTH)
        self.side_panel = right

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(center)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        self.splitter = splitter
        self._splitter_moved = False  # once the editor drags a handle, the columns are theirs
        splitter.splitterMoved.connect(lambda *_: setattr(self, "_splitter_moved", True))
        self._fit_columns()

        # The panels around the GL preview are native child windows: a window holding a QOpenGLWidget flushes
        # every repaint of any widget in it by compositing the whole window on the GPU (on software GL, ~20-35 ms
        # per list repaint at 1480x900); a native child is flushed on its own, as in a window without GL (~6 ms).
        self.native_panels = (bar, left, right)
        for panel in self.native_panels:
            panel.setAttribute(Qt.WidgetAttribute.WA_NativeWindow)

        root = QWidget()
        root_layout = QVBoxLayout(root)
        root_layout.setContentsMargins(0, 0, 0, 0)
        root_layout.setSpacing(0)
        root_layout.addWidget(bar)
        root_layout.addWidget(splitter, 1)
        root_layout.addWidget(self.bulk)
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

    def _view_bar(self) -> FlowLayout:
        row = FlowLayout()
        self.view_group = QButtonGroup(self)
        self.view_buttons: dict[str, QToolButton] = {}
        for mode, label, tip in (
            ("shader", "3D", "The avatar as the web shows it"),
            ("depth", "Depth map", "The depth map itself (white = near)"),
            ("split", "Split", "Left: the published shader (plane 0.5); right: these parameters"),
            ("compare", "Compare", "This depth result beside the user's previous one"),
        ):
            button = QToolButton()
            button.setObjectName("chip")
            button.setText(label)
            button.setToolTip(tip)
            button.setCheckable(True)
            button.clicked.connect(lambda _=False, m=mode: self.set_view(m))
            self.view_group.addButton(button)
            self.view_buttons[mode] = button
            row.addWidget(button)
        self.view_buttons["shader"].setChecked(True)
        row.add_stretch()
        self.zoom_button = QToolButton()
        self.zoom_button.setObjectName("chip")
        self.zoom_button.setText("1:1")
        self.zoom_button.setToolTip("The photo at its real pixel size (Z); then the wheel zooms and a drag pans")
        self.zoom_button.setCheckable(True)
        self.zoom_button.toggled.connect(self.preview.set_zoom_1to1)
        self.zoom_button.toggled.connect(lambda _on: self._load_native())
        self.preview.zoom_changed.connect(lambda z: self.zoom_button.setText(f"{z:g}:1" if z >= 1 else f"1:{1 / z:g}"))
        self.motion_button = QToolButton()
        self.motion_button.setObjectName("chip")
        self.motion_button.setText("Motion")
        self.motion_button.setToolTip("Follow the pointer, eased like the web (Space)")
        self.motion_button.setCheckable(True)
        self.motion_button.setChecked(self.preview.motion_enabled)
        self.motion_button.toggled.connect(self.preview.set_motion)
        self.orbit_button = QToolButton()
        self.orbit_button.setObjectName("chip")
        self.orbit_button.setText("Orbit")
        self.orbit_button.setToolTip("Circle on its own while the pointer is away or still (O)")
        self.orbit_button.setCheckable(True)
        self.orbit_button.toggled.connect(self.preview.set_orbit)
        for b in (self.zoom_button, self.motion_button, self.orbit_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a click must not take the keys away from the list
            row.addWidget(b)
        return row

    def _review_bar(self) -> FlowLayout:
        row = FlowLayout()
        self.approve_button = QPushButton("Approve  (A)")
        self.approve_button.setObjectName("approve")
        self.approve_button.clicked.connect(lambda: self.decide(Decision.APPROVED))
        self.reject_button = QPushButton("Reject  (X)")
        self.reject_button.setObjectName("reject")
        self.reject_button.clicked.connect(lambda: self.decide(Decision.REJECTED))
        self.reject_note_button = QPushButton("Reject + note…  (⇧X)")
        self.reject_note_button.setToolTip("Reject with a note for whoever regenerates it (Shift+X)")
        self.reject_note_button.clicked.connect(self.reject_with_note)
        self.generate_button = QPushButton("Generate  (G)")
        self.generate_button.setToolTip("(Re)generate the depth map of the selected users")
        self.generate_button.clicked.connect(self.generate_selected)
        for b in (self.approve_button, self.reject_button, self.reject_note_button, self.generate_button):
            row.addWidget(b)
        return row

    def _build_actions(self) -> None:
        """Every action lives in the menu bar with its key; the shortcut overlay (?) is generated from the menus.

        The keys are window-wide; a focused text field takes its typing first (Qt's ShortcutOverride), so
        searching for "Alex" never approves anyone, and Escape, Return or Down hand the keys back to the list.
        """
        bar = self.menuBar()
        self.menus: dict[str, Any] = {name: bar.addMenu(f"&{name}") for name in ("File", "View", "Review", "Help")}

        def act(menu: str, text: str, keys: tuple[str, ...], slot: Any) -> QAction:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(self._guard(slot))
            self.menus[menu].addAction(action)
            self.addAction(action)
            return action

        act("File", "Settings…", ("Ctrl+,",), self.open_settings)
        self.menus["File"].addSeparator()
        act("File", "Quit", ("Ctrl+Q",), self.close)
        for i, f in enumerate(FILTERS):
            act("View", f"Show {f.label}", (str(i + 1),) if i < 9 else (), lambda f=f: self.set_filter(f.key))
        self.menus["View"].addSeparator()
        act("View", "Search", ("Ctrl+F", "/"), self.focus_search)
        for mode, button in self.view_buttons.items():
            act("View", f"View: {button.text()}", (), lambda m=mode: self.set_view(m))
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
        self.menus["Review"].addSeparator()
        self.menus["Review"].addAction(undo)
        self.menus["Review"].addAction(redo)
        self.addAction(undo)
        self.addAction(redo)
        self.menus["Review"].addSeparator()
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
        rows = []
        for name, menu in self.menus.items():
            for action in menu.actions():
                if action.isSeparator():
                    continue
                keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
                rows.append((name, action.text().replace("&", ""), keys))
        return rows

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

    def undo_publish(self) -> None:
        from depthstudio.ui.unpublish import undo_publish  # with the unpublish job: on first use, not at start

        undo_publish(self)

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
        panel.saved.connect(lambda _new_id, uid=row.id: self._users_changed([uid]))  # row, counts, preview
        self.touchup_panel = panel

    def show_error(self, text: str, *, about: str | None = None, retry: Callable[[], None] | None = None) -> None:
        """Show ``text`` in the status bar and keep it whole in the message area (with ``retry`` as its Retry);
        log and keep it unless it is the same problem of the same user (``about``) seen before."""
        if about is None or (about, text) not in self._logged:
            log.warning("%s", text)
            if about is not None:
                self._logged.add((about, text))
            self.messages.add(Message(text, about=self._name_of(about) if about else "", retry=retry))
        self.statusBar().showMessage(f"⚠ {display(text)}", 15000)

    def retry_user(self, user_id: str) -> None:
        """Load a user's preview again (after a failed read): selected if shown, else found like go_to_user."""
        if self.current is not None and self.current.id == user_id:
            self._show_user(self.current)
        else:
            self.go_to_user(user_id)

    # --- querying -----------------------------------------------------------------------------------------

    def query(self) -> Query:
        return Query(
            statuses=self.filter.statuses,
            search=self.search.text().strip(),
            flagged=self.filter.flagged,
            sort=self.sort,
        )

    def apply_query(self) -> None:
        self._search_timer.stop()
        self.list_header.setText("Loading…")
        self.model.set_query(self.query())  # the filter counts follow the first page (see _first_page_loaded)

    def set_filter(self, key: str) -> None:
        self.filter = next(f for f in FILTERS if f.key == key)
        self.filter_buttons[key].setChecked(True)
        self.apply_query()

    def set_sort(self, sort: str) -> None:
        self.sort = sort
        self.view_state.set("list/sort", sort)
        blocked = self.sort_box.blockSignals(True)  # when set from code the box says so, without asking again
        self.sort_box.setCurrentIndex(self.sort_box.findData(sort))
        self.sort_box.blockSignals(blocked)
        self.apply_query()

    def refresh_counts(self) -> None:
        self._counts_generation += 1
        generation, query = self._counts_generation, Query(search=self.search.text().strip())
        self.tasks.submit(
            lambda: self.portal.status_counts(query),
            done=lambda counts: self._show_counts(generation, counts),
            failed=lambda exc: self.show_error(f"cannot count users: {describe(exc)}"),
            after=self._after_list_paint if self._first_page else None,
        )

    def _after_list_paint(self, start: Callable[[], None]) -> None:
        after_paint(self.list.viewport(), start)

    def _show_counts(self, generation: int, counts: dict[str, int]) -> None:
        if generation != self._counts_generation:
            return
        if counts.get("failed", 0) != self.counts.get("failed", 0):
            # After the first page, not before it (a cold start waits for nothing), and whenever failures come
            # from elsewhere (a worker, the CLI): the queue and "Retry failed" follow the database.
            self.failures.refresh()
        self.counts = counts
        for f in FILTERS:
            self.filter_buttons[f.key].setText(f"{f.label}  {_filter_count(f, counts):,}")
        self.chip_area.refresh()
        # The header follows the chip: the list keeps a decided user in place (no jump under the cursor), but
        # the number says how many still match, as the chip does.
        self._counted(_filter_count(self.filter, counts))

    def _counted(self, n: int) -> None:
        self.list_header.setText(f"  {n:,} user{'s' if n != 1 else ''} · {self.filter.label.lower()}")

    def _first_page_loaded(self) -> None:
        # The counts and the first user's preview start once the list has painted this page: worker threads
        # share the GIL with the paint (see ui.after_paint).
        self._first_page = True
        try:
            self._select_on_first_page()
        finally:
            self._first_page = False
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
        self.refresh_counts()
        if self._pending_user is not None:
            self._land_on(self._pending_user)
            return
        # The user being looked at stays selected when the list is re-queried (clearing the search, say).
        keep = self.model.index_of(self.current.id) if self.current is not None else QModelIndex()
        if keep.isValid() and not self.list.currentIndex().isValid():
            self.list.setCurrentIndex(keep)
        elif self.model.rowCount() and not self.list.currentIndex().isValid():
            self.list.setCurrentIndex(self.model.index(self._landing_row()))
        elif not self.model.rowCount():
            self._show_user(None)

    def _landing_row(self) -> int:
        """The row to select when nobody is: on opening, the first user with a depth map, so the first thing seen
        is an avatar moving in 3D (the demo's first names are placeholders without one); afterwards the top."""
        if self._opened:
            return 0
        self._opened = True
        rows = (self.model.row_at(i) for i in range(self.model.rowCount()))
        return next((i for i, r in enumerate(rows) if r.result_id is not None and r.status != "stale"), 0)

    def _users_changed(self, ids: list[str]) -> None:
        # A preview loaded before the change holds the review history as it was; an undo brings the row's fields
        # back to what they were, so the old key would match again and show a history without the undo.
        changed = set(ids)
        self._user_changes.update(changed)  # a load in flight now is not kept either (see _remember)
        for key in [k for k in self._prefetched if k[0] in changed]:
            del self._prefetched[key]
        if ids:
            self.model.refresh_users(ids)
        self.refresh_counts()
        if self.current is not None and self.current.id in ids:
            self._reload_current()

    # --- selection and preview ----------------------------------------------------------------------------

    def _name_of(self, user_id: str) -> str:
        index = self.model.index_of(user_id)
        return self.model.row_at(index.row()).name or user_id if index.isValid() else user_id

    def selected_rows(self) -> list[UserRow]:
        indexes = sorted(self.list.selectionModel().selectedIndexes(), key=lambda i: i.row())
        rows = [self.model.row_at(i.row()) for i in indexes]
        if not rows and self.current is not None:
            rows = [self.current]
        return rows

    def selected_ids(self) -> list[str]:
        return [r.id for r in self.selected_rows()]

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
            self._show_user(row)

    def go_to_user(self, user_id: str) -> None:
        """Select a user (from the failures view): in the list if shown, else under the Failed filter."""
        if self.model.index_of(user_id).isValid():
            self._land_on(user_id)
            return
        self._pending_user = user_id
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.set_filter("failed")

    def _land_on(self, user_id: str) -> None:
        self._pending_user = None
        index = self.model.index_of(user_id)
        if index.isValid():
            self.list.setCurrentIndex(index)
        else:  # not on the first page: show it anyway
            self.list.clearSelection()
            self.tasks.submit(lambda: self.portal.get_user(user_id), done=self._show_user)
        self.list.setFocus()

    def move(self, step: int) -> None:
        index = self.list.currentIndex()
        row = (index.row() + step) if index.isValid() else 0
        if row >= self.model.rowCount() and self.model.canFetchMore():
            self.model.fetchMore()
        row = max(0, min(row, self.model.rowCount() - 1))
        if self.model.rowCount():
            self.list.setCurrentIndex(self.model.index(row))

    def _reload_current(self) -> None:
        if self.current is None:
            return
        uid = self.current.id
        self._reload_generation += 1
        generation = self._reload_generation
        self.tasks.submit(lambda: self.portal.get_user(uid), done=lambda row: self._reloaded(generation, uid, row))

    def _reloaded(self, generation: int, user_id: str, row: UserRow | None) -> None:
        # The editor may have moved on (J) or asked again meanwhile: an older answer must not take the preview back.
        current = self.current
        if row is not None and generation == self._reload_generation and current is not None and current.id == user_id:
            self._show_user(row)

    def _show_user(self, row: UserRow | None) -> None:
        moved = row is None or self.current is None or row.id != self.current.id
        self.current = row
        self._reload_generation += 1
        self._preview_generation += 1
        generation = self._preview_generation
        if row is None:
            self.user_title.setText("")
            self.user_info.setText("")
            self.preview.set_content(None, "No users match this filter")
            self.params.set_user(None)
            self.history.clear()
            self._first_user_shown()
            return
        if moved:
            self.statusBar().clearMessage()  # the last user's messages are not this one's
        self.user_title.setText(display_name(row, self.model.repeated(row)))
        self.user_info.setText(display(_describe_row(row)))
        self.params.set_user(row.id)
        cached = self._prefetched.get(_row_key(row))
        if cached is not None:  # J/K onto a neighbour loaded ahead: its 3D frame is drawn at once
            self._preview_ready(generation, cached)
            self._prefetch_around(row, generation)
            return

        seen = self._user_changes[row.id]

        def ready(loaded: tuple[Any, ...]) -> None:
            self._remember(row, loaded, seen)
            self._preview_ready(generation, loaded)
            self._prefetch_around(row, generation)

        self.tasks.submit(
            lambda: _load_preview(self.portal, row),
            done=ready,
            failed=lambda exc: self._preview_failed(generation, exc),
            after=self._after_list_paint if self._first_page else None,
        )

    def _remember(self, row: UserRow, loaded: tuple[Any, ...], seen: int) -> None:
        """Keep a loaded preview for J/K, unless the user changed since its load began (``seen``)."""
        if self._user_changes[row.id] != seen:
            return
        self._prefetched[_row_key(row)] = loaded
        self._prefetched.move_to_end(_row_key(row))
        while len(self._prefetched) > PREFETCH_KEEP:
            self._prefetched.popitem(last=False)

    def _prefetch_around(self, row: UserRow, generation: int) -> None:
        """Load the neighbours' photos and maps on the worker while the editor looks at this one.

        Keyed by the whole row, so a neighbour whose status, decision or map changed since is loaded afresh. The
        loads start once this user's frame is painted (they would share the GIL with that paint), and none is
        read if the editor has moved on by then (``generation``): the next user prefetches around itself.
        """
        at = self.model.index_of(row.id).row()
        for step in (1, -1, 2):
            i = at + step
            if at < 0 or not 0 <= i < self.model.rowCount():
                continue
            neighbour = self.model.row_at(i)
            key = _row_key(neighbour)
            if key in self._prefetched or key in self._prefetching:
                continue
            self._prefetching.add(key)

            def load(n: UserRow = neighbour) -> tuple[Any, ...] | None:
                return _load_preview(self.portal, n) if generation == self._preview_generation else None

            def done(
                loaded: tuple[Any, ...] | None,
                n: UserRow = neighbour,
                k: tuple[str, str] = key,
                seen: int = self._user_changes[neighbour.id],
            ) -> None:
                self._prefetching.discard(k)
                if loaded is not None:
                    self._remember(n, loaded, seen)

            self.tasks.submit(
                load,
                done=done,
                failed=lambda _exc, k=key: self._prefetching.discard(k),  # selecting it will say why
                after=lambda start: after_paint(self.preview, start),
            )

    def _preview_ready(self, generation: int, loaded: tuple[Any, ...]) -> None:
        if generation != self._preview_generation:
            return
        content, message, history = loaded
        self.history.clear()
        for entry in history:
            when = entry["created_at"].strftime("%Y-%m-%d %H:%M") if entry.get("created_at") else ""
            note = f" — “{entry['note']}”" if entry.get("note") else ""
            what = HISTORY_WORDS.get(entry["decision"], entry["decision"])
            self.history.addItem(display(f"{when}  {what} by {entry['reviewer']}{note}"))
        if not history:
            self.history.addItem("no decisions yet")
        self.preview.set_content(content, message)
        self._load_native()
        if content is not None and message:
            self.show_error(message, about=self.current.id if self.current else None)
        compare = content is not None and content.compare_depth is not None
        if compare:
            reason = "This depth result beside the user's previous one"
        elif content is None:
            reason = "Compare needs a photo: this user has none to show"
        elif content.depth is None:
            reason = "Compare needs a depth map: this user has none yet (G generates one)"
        else:
            reason = "Compare needs two depth results of the same photo: this user has one (G makes another)"
        self.view_buttons["compare"].setEnabled(compare)
        self.view_buttons["compare"].setToolTip(reason)
        self._first_user_shown()

    def _load_native(self) -> None:
        """In the 1:1 view, the shown user's photo at its own pixel size, read on the worker."""
        row, content = self.current, self.preview.content
        if not self.zoom_button.isChecked() or row is None or not row.avatar or content is None:
            return
        generation, avatar, policy = self._preview_generation, row.avatar, self.portal.config.fetch.policy()
        h, w = content.depth.shape if content.depth is not None else (content.photo.height, content.photo.width)

        def ready(photo: Image.Image) -> None:
            if generation == self._preview_generation:
                self.preview.set_native_photo(photo)

        self.tasks.submit(lambda: photos.native_photo(avatar, w, h, policy), done=ready)

    def _preview_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._preview_generation:
            return
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
        rows = self.selected_rows()
        reviewable = [r for r in rows if r.result_id is not None]
        if not reviewable:
            self.show_message("nothing to review here: the selected users have no depth map yet (G generates one)")
            return
        self.undo_stack.push(_Decision(self, reviewable, decision, note))
        if len(rows) == 1:
            self.move(1)

    def reject_with_note(self) -> None:
        if not any(r.result_id is not None for r in self.selected_rows()):
            self.show_message("nothing to reject: the selected users have no depth map yet")
            return
        note, ok = QInputDialog.getText(self, "Reject", "Why? (optional, shown to whoever regenerates it)")
        if ok:
            self.decide(Decision.REJECTED, note.strip() or None)

    def record_decisions(self, groups: list[tuple[list[str], str, str | None]], shown: dict[str, int]) -> None:
        """Write decisions on the results in ``shown`` off the GUI thread, then refresh the rows and counts."""
        asked = [uid for ids, _, _ in groups for uid in ids]
        self.model.expect_changes(asked)  # before a page can read the write

        def write() -> list[str]:
            done: list[str] = []
            for ids, decision, note in groups:
                done += self.portal.decide(ids, decision, reviewer=self.reviewer, note=note, expected=shown)
            return done

        def written(ids: list[str]) -> None:
            self._users_changed(asked)
            verb = groups[0][1] if len(groups) == 1 else "restored"
            text = f"{verb}: {len(ids)} user{'s' if len(ids) != 1 else ''} (by {self.reviewer})"
            skipped = len(set(asked) - set(ids))
            if skipped:
                text += f"; {skipped} skipped: their depth map was regenerated since you looked, review it again"
            self.show_message(text)

        self.writes.submit(write, done=written, failed=lambda exc: self.show_error(f"not recorded: {describe(exc)}"))

    def publish_plan(self) -> tuple[int, str, str]:
        """(how many, the question, where to and what is skipped) for the confirmation, from the shown counts."""
        from depthstudio.storage import describe_destination

        counts = self.counts
        n = counts.get("approved", 0)
        portal = "the demo portal" if self.config.is_demo else _safe_url(self.config.portal.url)
        skipped = [
            (counts.get("generated", 0), "awaiting review"),
            (counts.get("rejected", 0), "rejected"),
            (counts.get("stale", 0), "stale (their photo changed)"),
            (counts.get("failed", 0), "failed"),
        ]
        skip = ", ".join(f"{k:,} {label}" for k, label in skipped if k)
        text = f"Publish {n:,} approved depth map{'s' if n != 1 else ''}?"
        rest = f"Not published: {skip}." if skip else "Nothing else is waiting."
        return n, text, f"{describe_destination(self.config, portal)}\n{rest}"

    def confirm_publish(self) -> bool:
        n, text, details = self.publish_plan()
        if n == 0:
            self.show_message("nothing to publish: no user is approved (A approves the selected user)")
            return False
        box = QMessageBox(QMessageBox.Icon.Question, "Publish approved", display(text), parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setInformativeText(display(details, newlines=True))
        publish = box.addButton("Publish", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.publish_box = box
        box.exec()
        return box.clickedButton() is publish

    def generate_selected(self) -> None:
        rows = [r for r in self.selected_rows() if r.avatar]
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
            self.reviewer = self.params.reviewer = current_reviewer(self.config)
            if self.config.web.display_crop != crop:  # the list shows each avatar as the website crops it
                self.model.thumbnails.clear()
                self.list.viewport().update()
            self.show_message(f"settings saved to {dialog.saved_path}; restart the studio to use a new portal")

    def _fit_columns(self) -> None:
        """The list and the parameters take what they need of this width; the preview takes the rest."""
        width = self.splitter.width() if self.splitter.isVisible() else self.width()
        left = max(self.list.minimumWidth(), min(350, round(width * 0.24)))
        right = max(SIDE_MIN_WIDTH, min(400, round(width * 0.27)))
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


class SquareFrame(QWidget):
    """Keeps the preview square and centred, like the avatar on the web page, whatever the window's shape."""

    def __init__(self, child: QWidget) -> None:
        super().__init__()
        self.child = child
        child.setParent(self)

    def resizeEvent(self, event: QResizeEvent) -> None:
        side = min(self.width(), self.height())
        self.child.setGeometry((self.width() - side) // 2, (self.height() - side) // 2, side, side)
        super().resizeEvent(event)


def _row_key(row: UserRow) -> tuple[str, str]:
    """The user and every field of the row (some are dicts, so the dataclass repr rather than a tuple)."""
    return row.id, repr(row)


def _describe_row(row: UserRow) -> str:
    parts = [status_label(row.status)]
    if row.backend:
        parts.append(depth_source(row.backend, row.model))
    if row.result_id is not None:
        parts.append(f"QA risk {row.qa_risk:.2f}")
    if row.decision:
        when = row.reviewed_at.strftime("%Y-%m-%d %H:%M") if row.reviewed_at else ""
        parts.append(f"{row.decision} by {row.reviewer} {when}".strip() + (f" — “{row.note}”" if row.note else ""))
    if row.status == "failed":
        how = explain(row.error_kind)  # the attempts are counted in the failures view (F), over every run
        parts.append(f"{how.phrase}: {row.error} — {'temporary: retry' if how.transient else how.todo}")
    if row.status == "stale":
        parts.append("the photo changed after the depth map was made: the web shows the plain photo")
    return " · ".join(parts)


def _planned_backend(config: Config) -> str:
    from depthstudio.depth.factory import planned  # late, as the bulk panel's: a broken install still opens

    return planned(config)


def _safe_url(url: str) -> str:
    """The portal URL for the title bar, without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "configured portal"


def _depth_array(png: bytes) -> np.ndarray:
    """The stored map as the 8-bit levels the web samples."""
    return np.round(np.clip(decode_png(png), 0.0, 1.0) * 255.0).astype(np.uint8)


def _result_label(result: ResultRow) -> str:
    return f"#{result.id} {depth_source(result.backend, result.model)}"


def _load_preview(portal: Portal, row: UserRow) -> tuple[PreviewContent | None, str, list[dict[str, Any]]]:
    """The preview and the review history for one user, read on a worker thread (the panel reads the overrides)."""
    history = portal.review_history(row.id)
    if not row.avatar:
        return None, "This user has no photo", history
    depth: np.ndarray | None = None
    label = compare_label = ""
    compare: np.ndarray | None = None
    shown = shown_map(row, reviewing=True)
    if shown.result_id is not None:
        png = portal.result_png(shown.result_id)
        if png:
            depth = _depth_array(png)
        results = portal.results_for_user(row.id)
        current = next((r for r in results if r.id == shown.result_id), None)
        label = _result_label(current) if current else ""
        other = next((r for r in results if r.id != shown.result_id and r.avatar_url == row.avatar), None)
        if other is not None and depth is not None:
            other_png = portal.result_png(other.id)
            if other_png:
                compare = _depth_array(other_png)
                if compare.shape != depth.shape:
                    compare = np.asarray(Image.fromarray(compare).resize(depth.shape[::-1], Image.Resampling.BILINEAR))
                compare_label = _result_label(other)
    note = ""
    if depth is None and shown.portal_url:
        # A map the portal has from elsewhere (or one of ours published before a new photo): the web shows it,
        # so the preview does too, read the way the exporter reads it.
        try:
            inputs = render_inputs(portal, row.id)
        except DepthstudioError as exc:
            note = f"the portal's depth map of this user cannot be read; showing the plain photo: {exc}"
        else:
            if inputs.depth is not None:
                portal_map = np.asarray(inputs.depth, dtype=np.uint8)
                textures = shader_textures(inputs.photo, portal_map, None)
                return (
                    PreviewContent(inputs.photo, portal_map, "the portal's depth map", textures=textures),
                    "",
                    history,
                )
    height, width = depth.shape if depth is not None else (PHOTO_SIZE, PHOTO_SIZE)
    photo = photos.framed_photo(row.avatar, width, height, portal.config.fetch.policy())
    layers = stored_layers(portal, shown.result_id) if depth is not None and shown.result_id is not None else None
    crop = portal.config.web.display_crop  # the editor judges the framing the website shows
    if crop != "none":
        frame = photo.size

        def cut(levels: np.ndarray) -> np.ndarray:
            return np.asarray(through_display_crop(Image.fromarray(levels), frame, crop))

        photo = through_display_crop(photo, frame, crop)
        depth = cut(depth) if depth is not None else None
        compare = cut(compare) if compare is not None else None
        layers = layers_through_display_crop(layers, frame, crop)
    # Here, on the worker: decoding the stored layers (or deriving an older result's) would hold up the frame.
    textures = shader_textures(photo, depth, layers)
    return PreviewContent(photo, depth, label, compare, compare_label, layers, textures=textures), note, history
