"""Starting the studio: the Qt application, the GL surface format, and the last-resort error handler."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon, QSurfaceFormat
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QWidget

from depthstudio.config import Config
from depthstudio.resources import resource
from depthstudio.ui.bulk import BackendFactory, StoreFactory
from depthstudio.ui.preview import surface_format
from depthstudio.ui.workers import describe

log = logging.getLogger(__name__)


def application() -> QApplication:
    """The one QApplication; the GL format must be the default before it exists so every context shares it."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        _brand(app)
        return app
    QSurfaceFormat.setDefaultFormat(surface_format())
    app = QApplication(sys.argv[:1])
    app.setApplicationName("depthstudio")
    app.setOrganizationName("depthstudio")
    _brand(app)
    return app


def _brand(app: QApplication) -> None:
    """The icon every window shows, and the launcher (``depthstudio desktop-entry install``) the windows belong to."""
    app.setDesktopFileName("depthstudio")
    if app.windowIcon().isNull():
        app.setWindowIcon(QIcon(str(resource("resources", "icons", "depthstudio.svg"))))


def install_excepthook(window: QMainWindow) -> None:
    """Any exception that escapes a slot or a thread is logged and shown in the status bar; the window lives on.

    PySide6 hands exceptions raised in slots to ``sys.excepthook`` instead of unwinding Qt; without this hook they
    would only reach stderr, where an editor never looks.
    """

    def show(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        log.error("unhandled error: %s", "".join(traceback.format_exception(kind, exc, tb)).rstrip())
        text = describe(exc)
        # The hook can run on any thread; a single-shot timer hands the message to the GUI thread.
        QTimer.singleShot(0, window, lambda: window.statusBar().showMessage(f"⚠ {text}", 20000))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            show(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = show
    threading.excepthook = thread_hook


def error_box(parent: QWidget | None, title: str, err: BaseException) -> None:
    QMessageBox.critical(parent, title, describe(err))


def run_studio(
    config: Config,
    *,
    backend_factory: BackendFactory | None = None,
    store_factory: StoreFactory | None = None,
) -> int:
    """Show a window at once, open the portal in the background (ui/startup.py), then the main window; a bad config
    or database is shown in that first window with "Settings…", not a trace and never a frozen blank screen."""
    from depthstudio.portal.repository import Portal
    from depthstudio.ui.main_window import MainWindow
    from depthstudio.ui.startup import StartupWindow

    app = application()

    def open_main(portal: Portal) -> QMainWindow:
        window = MainWindow(portal, config, backend_factory=backend_factory, store_factory=store_factory)
        install_excepthook(window)
        return window

    startup = StartupWindow(config, open_main)
    startup.show()
    startup.start()
    try:
        code = app.exec()
    finally:
        if startup.portal is not None:
            startup.portal.close()
    return code if startup.portal is not None or code else 2
