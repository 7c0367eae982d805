"""The "Failed users" work queue: every failed user in the database, grouped by what went wrong, in plain words.

Temporary failures (the network, a busy service) are retried in one action; the others say what must happen
first (a new photo, a setting). Double-clicking a user goes to that user; the panel is a dock that closes. The
grouping is the core's (``depthstudio.jobs.failures``); this is only its view, loaded off the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from depthstudio.jobs.failures import FailureGroup, failure_groups, retryable_ids
from depthstudio.portal.repository import Portal
from depthstudio.ui.plain import display, tooltip_html
from depthstudio.ui.workers import TaskRunner, describe

USER_ROLE = Qt.ItemDataRole.UserRole


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class FailuresPanel(QDockWidget):
    go_to_user = Signal(str)
    retry = Signal(list)  # user ids to generate again
    retryable_changed = Signal(list)  # the temporary failures' user ids, after every load
    loaded = Signal()

    def __init__(self, portal: Portal, parent: QWidget | None = None) -> None:
        super().__init__("Failed users", parent)
        self.setObjectName("failuresDock")
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        self.portal = portal
        self.groups: list[FailureGroup] = []
        self.retryable: list[str] = []
        self._tasks = TaskRunner(parent=self)
        self._generation = 0

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 4, 8, 4)
        top = QHBoxLayout()
        self.summary = QLabel("Loading…")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.retry_button = QPushButton("Retry temporary failures")
        self.retry_button.setToolTip("Generate again every user whose failure was temporary (network, busy service)")
        self.retry_button.clicked.connect(lambda: self.retry.emit(list(self.retryable)))
        self.retry_selected_button = QPushButton("Retry selected")
        self.retry_selected_button.setToolTip("Generate the selected users again (after fixing what their group says)")
        self.retry_selected_button.clicked.connect(lambda: self.retry.emit(self.selected_ids()))
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        top.addWidget(self.summary, 1)
        for b in (self.retry_button, self.retry_selected_button, close):
            top.addWidget(b)
        layout.addLayout(top)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["What went wrong · user", "Attempts", "What to do · message"])
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.tree.setColumnWidth(0, 340)
        self.tree.setColumnWidth(1, 80)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.tree, 1)
        self.setWidget(body)
        self._update_buttons()

    def refresh(self, *, show: bool = False) -> None:
        """Read every failed user again (off the GUI thread); ``loaded`` says when it is shown. ``show`` opens
        the panel (when there is something in it, or when asked from the menu)."""
        if show:
            self.show()
            self.raise_()
        self._generation += 1
        generation = self._generation
        self._tasks.submit(
            lambda: failure_groups(self.portal),
            done=lambda groups: self._show(generation, groups),
            failed=lambda exc: self._failed(generation, exc),
        )

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.summary.setText(f"cannot list the failed users: {describe(exc)}")
            self.loaded.emit()

    def _show(self, generation: int, groups: list[FailureGroup]) -> None:
        if generation != self._generation:
            return
        self.groups = groups
        self.retryable = retryable_ids(groups)
        self.tree.clear()
        for group in groups:
            how = group.explanation
            head = QTreeWidgetItem([f"{how.title} — {plural(len(group.users), 'user')}", "", ""])
            head.setText(2, "temporary: retry" if how.transient else f"needs action: {how.todo}")
            head.setToolTip(0, tooltip_html(f"kind: {group.kind}"))
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            head.setFlags(head.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            for user in group.users:
                child = QTreeWidgetItem(
                    [display(user.name or user.user_id), plural(user.attempts, "attempt"), display(user.message)]
                )
                child.setData(0, USER_ROLE, user.user_id)
                child.setToolTip(0, tooltip_html(f"id {user.user_id}"))
                child.setToolTip(2, tooltip_html(user.message))
                head.addChild(child)
            self.tree.addTopLevelItem(head)
            head.setExpanded(True)
        total = sum(len(g.users) for g in groups)
        if total:
            self.summary.setText(
                f"{plural(total, 'failed user')}: {len(self.retryable):,} temporary, "
                f"{total - len(self.retryable):,} need action first · double-click a user to go there"
            )
        else:
            self.summary.setText("No failed users")
        self._update_buttons()
        self.retryable_changed.emit(list(self.retryable))
        self.loaded.emit()

    def selected_ids(self) -> list[str]:
        return [i.data(0, USER_ROLE) for i in self.tree.selectedItems() if i.data(0, USER_ROLE)]

    def _update_buttons(self) -> None:
        self.retry_button.setText(f"Retry temporary failures ({len(self.retryable):,})")
        self.retry_button.setEnabled(bool(self.retryable))
        self.retry_selected_button.setEnabled(bool(self.selected_ids()))

    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        user_id = item.data(0, USER_ROLE)
        if user_id:
            self.go_to_user.emit(user_id)
