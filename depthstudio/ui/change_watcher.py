"""Several editors at once: the studio follows what other studios, workers and publishers change, as it happens.

A ``ChangeFeed`` (portal/changes.py) runs on its own thread; its reports cross to the GUI thread through a
queued signal, and the studio model re-reads only the changed users' rows in place (the list keeps its rows, the
selection and the scroll position; the preview reloads if it shows one of them) and the filter counts.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from depthstudio.portal.changes import ChangeFeed
from depthstudio.studio.model import StudioModel


class ChangeWatcher(QObject):
    changed = Signal(object)  # set[str] of user ids, or None: anything may have changed

    def __init__(self, studio: StudioModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._feed = ChangeFeed(studio.portal.engine, self.changed.emit)
        self.changed.connect(lambda users: studio.users_changed(studio.listed(users)))

    def start(self) -> ChangeWatcher:
        self._feed.start()
        return self

    def stop(self) -> None:
        self._feed.stop()
