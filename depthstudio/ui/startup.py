"""The first window: shown at once, it opens the portal on a worker thread (a database may take seconds to answer,
or never), then hands over to the main window, or shows the error with "Settings…" and "Retry"."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from depthstudio.config import Config
from depthstudio.portal.engine import redact_url
from depthstudio.portal.repository import Portal
from depthstudio.ui.workers import describe


class _Opened(QObject):
    # Emitted from the opening thread; Qt queues the call onto the GUI thread, where the receivers live.
    done = Signal(object)
    failed = Signal(object)


class StartupWindow(QMainWindow):
    """A spinner while connecting; on success ``on_open(portal)`` builds the real window and this one closes."""

    def __init__(self, config: Config, on_open: Callable[[Portal], QMainWindow]) -> None:
        super().__init__()
        self.config = config
        self.on_open = on_open
        self.portal: Portal | None = None
        self.main: QMainWindow | None = None
        self.setWindowTitle("depthstudio")
        self._signals = _Opened(self)
        self._signals.done.connect(self._opened)
        self._signals.failed.connect(self._failed)

        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addStretch(1)
        self.status = QLabel(body)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # URLs and errors are shown as text, never as markup
        self.status.setWordWrap(True)
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.spinner = QProgressBar(body)
        self.spinner.setRange(0, 0)  # busy: an animated bar with no known end
        self.spinner.setTextVisible(False)
        buttons = QHBoxLayout()
        self.settings_button = QPushButton("Settings…", body)
        self.retry_button = QPushButton("Retry", body)
        self.quit_button = QPushButton("Quit", body)
        for button in (self.settings_button, self.retry_button, self.quit_button):
            buttons.addWidget(button)
        self.settings_button.clicked.connect(self._settings)
        self.retry_button.clicked.connect(self.start)
        self.quit_button.clicked.connect(self.close)
        layout.addWidget(self.status)
        layout.addWidget(self.spinner)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setCentralWidget(body)
        self.resize(560, 260)

    @property
    def connecting(self) -> bool:
        return self.spinner.isVisible()

    def start(self) -> None:
        where = "the demo portal" if self.config.is_demo else redact_url(self.config.portal_url())
        self.status.setText(f"Connecting to {where}…")
        self.spinner.show()
        for button in (self.settings_button, self.retry_button):
            button.hide()
        threading.Thread(target=self._open, name="open-portal", daemon=True).start()

    def _open(self) -> None:
        from depthstudio.jobs.demo_results import seed_demo

        try:
            portal = Portal.open(self.config)
            seed_demo(portal, self.config)
        except Exception as exc:  # every failure is shown in the window, with what to do next
            self._signals.failed.emit(exc)
            return
        self._signals.done.emit(portal)

    def _opened(self, portal: Portal) -> None:
        self.portal = portal
        self.main = self.on_open(portal)
        self.main.show()
        self.close()

    def _failed(self, exc: BaseException) -> None:
        self.spinner.hide()
        self.status.setText(f"Cannot open the portal.\n\n{describe(exc)}")
        for button in (self.settings_button, self.retry_button):
            button.show()

    def _settings(self) -> None:
        from depthstudio.ui.settings_dialog import SettingsDialog

        if SettingsDialog(self.config, self).exec():
            self.start()
