"""Several editors at once: the studio follows what other studios, workers and publishers change, as it happens.

A ``ChangeFeed`` (portal/changes.py) runs on its own thread; its reports cross to the GUI thread through a
queued signal, and the window re-reads only the changed users' rows in place (the list keeps its rows, the
selection and the scroll position; the preview reloads if it shows one of them) and the filter counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from depthstudio.portal.changes import ChangeFeed

if TYPE_CHECKING:
    from depthstudio.ui.main_window import MainWindow


class ChangeWatcher(QObject):
    changed = Signal(object)  # set[str] of user ids, or None: anything may have changed

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._feed = ChangeFeed(window.portal.engine, self.changed.emit)
        self.changed.connect(self._apply)

    def start(self) -> ChangeWatcher:
        self._feed.start()
        return self

    def stop(self) -> None:
        self._feed.stop()

    def _apply(self, users: set[str] | None) -> None:
        model = self._window.model
        shown = [model.row_at(i).id for i in range(model.rowCount())]
        self._window._users_changed(shown if users is None else [u for u in users if model.index_of(u).isValid()])
