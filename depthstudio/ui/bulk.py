"""Bulk work from the window: the core's generate/publish job objects on a worker thread, observed live.

The panel shows what the CLI prints (count, rate, ETA, failures with reasons) and adds cancel and retry. Users
touched by the job are reported in batches so the list refreshes a few times a second, not once per item.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from depthstudio.cancel import CancelToken
from depthstudio.config import Config
from depthstudio.depth.backend import DepthBackend
from depthstudio.errors import BackendError
from depthstudio.jobs.failures import explain, failure_groups, retryable_ids
from depthstudio.jobs.progress import FAILED, GENERATED, HELD_OUTCOME, PUBLISHED
from depthstudio.portal.repository import Portal
from depthstudio.storage.store import DepthStore
from depthstudio.ui.download_dialog import ModelDownload, make_backend
from depthstudio.ui.elided import ElidedLabel
from depthstudio.ui.plain import display, tooltip_html
from depthstudio.ui.workers import JobController

if TYPE_CHECKING:
    from depthstudio.depth.models import DownloadProgress

log = logging.getLogger(__name__)

# Called as factory(config), or factory(config, progress=..., cancel=...) where it takes those (the download dialog).
BackendFactory = Callable[..., DepthBackend]
StoreFactory = Callable[[Config], DepthStore]
REFRESH_MS = 300


def default_backend_factory(
    config: Config, *, progress: DownloadProgress | None = None, cancel: CancelToken | None = None
) -> DepthBackend:
    """The configured backend; imported late because the local one pulls in torch. ``progress``/``cancel``
    see and stop the model's one-time download."""
    try:
        from depthstudio.depth.factory import make_backend
    except ModuleNotFoundError as exc:
        if exc.name != "depthstudio.depth.factory":
            raise
        raise BackendError(
            "this installation has no depth backends (depthstudio.depth.factory is missing); reinstall depthstudio",
            kind="not_installed",
        ) from None
    return make_backend(config, config.depth.backend, progress=progress, cancel=cancel)


def default_store_factory(config: Config) -> DepthStore:
    from depthstudio.storage import open_store as make_store

    return make_store(config)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def ended(state: str, progress: Any | None) -> str:
    """How a run ended, with how far it got: "stopped after 3 of 17", not a bare "— stopped"."""
    if state == "done":
        return f"{progress.done}/{progress.total} — done" if progress is not None else "done"
    if progress is None:
        return f"{state} before starting"  # the backend or the list of users never came: the status says why
    return f"{state} after {progress.done} of {progress.total}"


class BulkPanel(QWidget):
    users_changed = Signal(list)  # user ids whose rows should be re-read
    finished = Signal(object)  # the job's Summary
    stopped = Signal(str, str)  # ("done" | "cancelled" | "stopped", the summary or the error): after every run
    message = Signal(str)
    backend_described = Signal(str)  # which backend and model the run uses (depthstudio.depth.factory.describe)
    device_explained = Signal(str)  # which device runs and why (depthstudio.depth.factory.explain); "" if none
    go_to_user = Signal(str)  # a double-click on a failure

    def __init__(
        self,
        portal: Portal,
        config: Config,
        backend_factory: BackendFactory | None = None,
        store_factory: StoreFactory | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.portal = portal
        self.config = config
        self.backend_factory = backend_factory or default_backend_factory
        self.store_factory = store_factory or default_store_factory
        self.confirm_publish: Callable[[], bool] | None = None
        self.controller = JobController(self)
        self.controller.progress.connect(self._progress)
        self.controller.item.connect(self._item)
        self.controller.finished.connect(self._finished)
        self.controller.crashed.connect(self._crashed)
        self.name_of: Callable[[str], str] = lambda user_id: user_id  # the window knows names; jobs know ids
        self.last_progress: Any = None
        self.last_summary: Any = None
        self.failures: dict[str, tuple[str, str]] = {}  # user id -> (kind, message), this run's
        self.retryable: list[str] = []  # every temporary failure in the database (the failures view sets it)
        self.download: ModelDownload | None = None  # the current run's model download (dialog, cancel)
        self._touched: set[str] = set()
        self._refresh = QTimer(self)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self._flush_touched)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        top = QHBoxLayout()
        self.generate_button = QPushButton("Generate all missing")
        self.generate_button.setToolTip("Make depth maps for every user who has none or whose photo changed")
        self.generate_button.clicked.connect(lambda: self.generate())
        self.publish_button = QPushButton("Publish approved")
        self.publish_button.setToolTip("Upload every approved depth map and write its URL to the portal")
        self.publish_button.clicked.connect(self.publish_confirmed)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("idle")
        self.progress_bar.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = ElidedLabel("")  # ends in "…" when narrow, never widens the window or paints over a button
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QPushButton("Retry failed")
        self.retry_button.setEnabled(False)
        self.retry_button.clicked.connect(self.retry_failed)
        for w in (self.generate_button, self.publish_button):
            top.addWidget(w)
        top.addWidget(self.progress_bar, 1)
        top.addWidget(self.status)
        top.addWidget(self.cancel_button)
        top.addWidget(self.retry_button)
        layout.addLayout(top)
        self.failure_list = QTreeWidget()
        self.failure_list.setHeaderLabels(["User", "Kind", "Reason"])
        self.failure_list.setRootIsDecorated(False)
        self.failure_list.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.failure_list.setColumnWidth(0, 200)
        self.failure_list.setColumnWidth(1, 150)
        self.failure_list.setMaximumHeight(110)
        self.failure_list.setVisible(False)
        self.failure_list.itemDoubleClicked.connect(
            lambda item, _c: self.go_to_user.emit(item.data(0, Qt.ItemDataRole.UserRole))
        )
        layout.addWidget(self.failure_list)

    # --- starting -----------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.controller.running

    def generate(
        self, user_ids: list[str] | Callable[[], list[str]] | None = None, *, title: str = "Generate all missing"
    ) -> bool:
        """Generate for ``user_ids`` (the selection, a retry; a callable is asked on the worker) or every user who
        needs a depth map."""

        download = ModelDownload(self)

        def make(c: JobController) -> Any:
            from depthstudio.depth.factory import describe, explain, install_hint
            from depthstudio.jobs.generate import GenerateMissingJob, NothingToDo, plan_run

            ids = user_ids() if callable(user_ids) else user_ids
            planned = plan_run(self.portal, self.config, include_failed=ids is not None, user_ids=ids)
            planned.retry_hint = "select them under Failed and press Generate (G) to retry them now"
            if not planned.users:
                return NothingToDo(self.portal, planned)  # no work, no model: no download, no token check
            backend = make_backend(self.backend_factory, self.config, download)
            c.cleanup = backend.close
            hint = install_hint(backend)  # an idle NVIDIA GPU: what to install stays in sight, beside what runs
            self.backend_described.emit(describe(backend) + (f"  ⚠ {hint}" if hint else ""))
            self.device_explained.emit(explain(backend) or "")
            store = self.store_factory(self.config) if not self.config.studio.review_required else None
            return GenerateMissingJob(
                self.portal,
                backend,
                store,
                self.config,
                user_ids=ids,
                include_failed=ids is not None,
                on_progress=c.on_progress,
                on_item=c.on_item,
                planned=planned,
            )

        if not self._start(title, make):
            download.deleteLater()
            return False
        if self.download is not None:
            self.download.deleteLater()  # the last run's, ended: one per run, not one per run ever made
        self.download = download
        return True

    def publish_confirmed(self) -> bool:
        """The button's publish: asks ``confirm_publish`` (the window's dialog) first, where one is set."""
        if self.confirm_publish is not None and not self.confirm_publish():
            return False
        return self.publish()

    def publish(self) -> bool:
        def make(c: JobController) -> Any:
            from depthstudio.jobs.generate import PublishApprovedJob

            return PublishApprovedJob(
                self.portal, self.store_factory(self.config), self.config, on_progress=c.on_progress, on_item=c.on_item
            )

        return self._start("Publish approved", make)

    def set_retryable(self, user_ids: list[str]) -> None:
        """The users "Retry failed" generates again: the temporary failures of every run, not only the last."""
        self.retryable = list(user_ids)
        self.retry_button.setText(f"Retry failed ({len(self.retryable):,})" if self.retryable else "Retry failed")
        self._set_running(self.running)

    def retry_failed(self) -> None:
        """Every temporary failure in the database when the job starts, whatever the button last counted."""
        if self.retryable:
            self.generate(lambda: retryable_ids(failure_groups(self.portal)), title="Retry failed")

    def cancel(self) -> None:
        if self.running:
            if self.download is not None:
                self.download.cancel.cancel()
            self.controller.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_bar.setFormat("cancelling…")

    def _start(self, title: str, make: Callable[[JobController], Any]) -> bool:
        """``make`` runs on the worker (imports, backend, store): its failures end up on the panel, not in Qt."""
        if self.running:
            self.message.emit(f"{self.controller.title} is still running: cancel it or wait for it to finish")
            return False
        self.failures.clear()
        self.failure_list.clear()
        self.failure_list.setVisible(False)
        self.last_progress = self.last_summary = None
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(f"{title}: starting…")
        self.status.setText("")
        self._set_running(True)
        self.controller.start(title, make)
        self._refresh.start()
        return True

    def _set_running(self, running: bool) -> None:
        self.generate_button.setEnabled(not running)
        self.publish_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.retry_button.setEnabled(not running and bool(self.retryable))

    # --- reports from the worker --------------------------------------------------------------------------

    def _progress(self, p: Any) -> None:
        self.last_progress = p
        self.progress_bar.setValue(round(p.fraction * 1000))
        self.progress_bar.setFormat(f"{self.controller.title}: {p.done}/{p.total}")
        parts = [f"{p.rate:.1f}/s", f"ETA {format_eta(p.eta_s)}"]
        if p.failed:
            parts.append(f"{p.failed} failed")
        if p.in_flight:
            parts.append(f"{p.in_flight} in flight")
        self.status.setText(" · ".join(parts))

    def _item(self, event: Any) -> None:
        self._touched.add(event.user_id)
        if event.outcome == FAILED:
            self.failures[event.user_id] = (event.error_kind or "", event.message or "")
            texts = [self.name_of(event.user_id), explain(event.error_kind).title, event.message or ""]
            item = QTreeWidgetItem([display(t) for t in texts])
            item.setData(0, Qt.ItemDataRole.UserRole, event.user_id)
            item.setToolTip(0, event.user_id)
            item.setToolTip(2, tooltip_html(event.message or ""))
            self.failure_list.addTopLevelItem(item)
            self.failure_list.setVisible(True)
        elif event.user_id in self.failures and event.outcome in (GENERATED, PUBLISHED, HELD_OUTCOME):
            self.failures.pop(event.user_id)
            for i in range(self.failure_list.topLevelItemCount()):
                if self.failure_list.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == event.user_id:
                    self.failure_list.takeTopLevelItem(i)
                    break

    def _flush_touched(self) -> None:
        if self._touched:
            ids, self._touched = sorted(self._touched), set()
            self.users_changed.emit(ids)

    def _finished(self, summary: Any) -> None:
        self.last_summary = summary
        self._progress(summary.progress)
        # The held-back failures and changed photos the CLI prints under its summary line, said here too.
        self._done("cancelled" if summary.cancelled else "done", "; ".join([summary.line(), *summary.notes]))
        self.finished.emit(summary)

    def _crashed(self, text: str) -> None:
        self._done("stopped", text)
        self.message.emit(text)

    def _done(self, state: str, text: str) -> None:
        self._refresh.stop()
        self._flush_touched()
        self.users_changed.emit([])  # counts change even for users not on screen
        self._set_running(False)
        self.failure_list.setVisible(False)  # the failures view (every run's, from the database) takes over
        p = self.last_progress
        if p is not None and p.total == 0 and state == "done":
            self.progress_bar.setFormat(f"{self.controller.title}: nothing to do")  # not "0/0 — done"
        else:
            self.progress_bar.setFormat(f"{self.controller.title}: {ended(state, p)}")
        text = display(text)
        self.status.setText(text if len(text) < 60 else text[:57] + "…")
        self.status.setToolTip(tooltip_html(text))
        self.stopped.emit(state, text)
