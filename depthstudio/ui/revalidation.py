"""The studio re-validates the photos behind existing maps as a cron run does, so a photo the portal overwrote in
place shows as Stale here too, not "approved" forever.

The same function as the CLI's run (``jobs.photo_check.revalidate``, at ``fetch.revalidate_per_s``, each photo
at most once per ``fetch.revalidate_after_s``) on a thread of its own: a pass makes one request per photo, so it
must neither hold the GUI thread nor one of the task pool's threads that previews and counts need. A pass runs
once the first user is on screen and then every ``EVERY_S``; most find every photo checked lately and ask nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from depthstudio.studio.model import StudioModel
from depthstudio.ui.workers import describe

if TYPE_CHECKING:
    from depthstudio.jobs.photo_check import Revalidation


log = logging.getLogger(__name__)

EVERY_S = 600.0


class PhotoRevalidator(QObject):
    found = Signal(object)  # Revalidation, from the pass's thread (queued to the GUI thread)
    failed = Signal(str)
    ended = Signal()  # a pass ended, on the GUI thread, after its changes were applied (or its failure logged)

    def __init__(self, studio: StudioModel, parent: QObject, *, every_s: float = EVERY_S) -> None:
        super().__init__(parent)
        self._studio = studio
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(round(every_s * 1000))
        self._timer.timeout.connect(self.run_pass)
        self.found.connect(self._apply)
        self.failed.connect(self._failed)

    def start(self) -> None:
        """The first pass now, then one every interval."""
        self._timer.start()
        self.run_pass()

    def run_pass(self) -> None:
        """Start a pass unless one is still running (a slow host is not asked twice at once)."""
        if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._pass, name="depthstudio-revalidate", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No new request; the one in flight ends within the fetch policy's timeout (not waited for)."""
        self._stop.set()
        self._timer.stop()

    def _pass(self) -> None:
        from depthstudio.jobs.photo_check import revalidate  # with the fetcher: not on the studio's start path

        studio = self._studio
        try:
            report = revalidate(studio.portal, studio.config, stop=self._stop.is_set)
        except Exception as exc:  # the database or the network is away: the next pass tries again
            if not self._stop.is_set():
                self.failed.emit(f"cannot re-check the photos: {describe(exc)}")
            return
        if not self._stop.is_set():
            self.found.emit(report)

    def _apply(self, report: Revalidation) -> None:
        for line in report.lines():
            log.info("%s", line)
        if report.changed:
            self._studio.users_changed(self._studio.listed(report.changed))
            n = len(report.changed)
            self._studio.message.emit(
                f"{n} photo{'s' if n != 1 else ''} changed in place since the map was made: now Stale"
            )
        self.ended.emit()

    def _failed(self, text: str) -> None:
        log.warning("%s", text)
        self.ended.emit()
