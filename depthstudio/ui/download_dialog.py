"""The one-time model download, seen from the studio: a dialog with the file, its size, the speed and Cancel.

A bulk job makes its backend on a worker thread, and making the local backend can mean downloading the model
first (``depthstudio.depth.models.fetch``). ``ModelDownload`` is the ``progress``/``cancel`` pair that job hands
to the backend factory: reports cross to the GUI thread as a queued signal, and the dialog opens only when bytes
actually start to move, so a model already in the cache never flashes a window. Cancel stops the transfer
between chunks. Nothing is half-written: no job or result exists yet (the job is made after the backend), and
the hub client deletes its partial file (so the next "Generate" downloads again; see ``models._progress_class``).
"""

from __future__ import annotations

import inspect
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QVBoxLayout, QWidget

from depthstudio.cancel import CancelToken
from depthstudio.config import Config
from depthstudio.depth.backend import DepthBackend

SPEED_WINDOW_S = 3.0  # the speed shown is over the last few seconds, so a stall shows as a falling rate


def format_mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class DownloadDialog(QDialog):
    """Non-modal: the window behind stays usable (the user can read the list while 99 MB arrive)."""

    def __init__(self, cancel: CancelToken, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Downloading the depth model")
        self.setModal(False)
        self.cancel_token = cancel
        self._samples: deque[tuple[float, int]] = deque()
        self.file_label = QLabel("")
        self.size_label = QLabel("")
        self.speed_label = QLabel("")
        self.note = QLabel(
            "Needed once: the local depth model runs on this computer, no account needed. "
            "Cancel stops it and changes nothing; the next Generate starts it again."
        )
        self.note.setWordWrap(True)
        for label in (self.file_label, self.size_label, self.speed_label, self.note):
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.request_cancel)
        layout = QVBoxLayout(self)
        for w in (self.file_label, self.bar, self.size_label, self.speed_label, self.note, self.buttons):
            layout.addWidget(w)
        self.setMinimumWidth(460)

    def report(self, done: int, total: int, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.file_label.setText(f"Downloading {name}")
        self.size_label.setText(f"{format_mb(done)} of {format_mb(total)}" if total else format_mb(done))
        self.bar.setValue(round(1000 * done / total) if total else 0)
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW_S:
            self._samples.popleft()
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 > t0:
            rate = (d1 - d0) / (t1 - t0)
            left = f", about {round((total - done) / rate)} s left" if rate > 0 and total > done else ""
            self.speed_label.setText(f"{rate / 1e6:.1f} MB/s{left}")

    def request_cancel(self) -> None:
        """Cancel, or Escape / the close button: the worker stops at the next chunk and reports it."""
        self.cancel_token.cancel()
        self.cancel_button.setEnabled(False)
        self.speed_label.setText("cancelling…")

    def reject(self) -> None:
        self.request_cancel()


class ModelDownload(QObject):
    """The ``progress`` callable and ``cancel`` token of one job's backend factory, bridged to a dialog."""

    reported = Signal(object, object, str)  # done, total (Python ints: a model can pass 2**31 bytes), file name
    ended = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self.cancel = CancelToken()
        self.dialog: DownloadDialog | None = None
        self._over = False
        self.reported.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self.ended.connect(self.finish, Qt.ConnectionType.QueuedConnection)

    def progress(self, done: int, total: int, name: str) -> None:
        """Called on the worker thread by the download."""
        self.reported.emit(done, total, name)

    def _show(self, done: int, total: int, name: str) -> None:
        if self._over:
            return
        if self.dialog is None:
            self.dialog = DownloadDialog(self.cancel, self._parent)
            self.dialog.show()
        self.dialog.report(done, total, name)

    def finish(self) -> None:
        """The backend is made (or failed, or was cancelled): the dialog goes, the outcome is the panel's to say."""
        self._over = True
        if self.dialog is not None:
            self.dialog.hide()
            self.dialog.deleteLater()
            self.dialog = None


def takes_download(factory: Callable[..., DepthBackend]) -> bool:
    """Whether a backend factory accepts ``progress`` and ``cancel`` (the default one does; a test's may not)."""
    try:
        inspect.signature(factory).bind(None, progress=None, cancel=None)
    except (TypeError, ValueError):
        return False
    return True


def make_backend(factory: Callable[..., Any], config: Config, download: ModelDownload) -> DepthBackend:
    """``factory(config)`` on the worker thread, showing and ending ``download``'s dialog around it."""
    try:
        if takes_download(factory):
            return factory(config, progress=download.progress, cancel=download.cancel)  # type: ignore[no-any-return]
        return factory(config)  # type: ignore[no-any-return]
    finally:
        download.ended.emit()
