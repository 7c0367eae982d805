"""Running core work off the GUI thread and bringing its results and callbacks back as Qt signals.

Signals emitted from a worker thread reach slots of objects living in the GUI thread through queued
connections, so the core's plain callbacks become safe UI updates with no locking in the widgets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from copy import copy
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from depthstudio.errors import DepthstudioError
from depthstudio.studio.problems import describe

__all__ = ["JobController", "TaskRunner", "describe", "write_pool"]

log = logging.getLogger(__name__)


class _TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = _TaskSignals()

    def run(self) -> None:
        try:
            value = self.fn()
        except BaseException as exc:
            if not isinstance(exc, DepthstudioError):
                log.error("background task failed", exc_info=exc)
            self.signals.failed.emit(exc)
            return
        self.signals.done.emit(value)


_write_pool: QThreadPool | None = None


def write_pool() -> QThreadPool:
    """The one thread every database write of the studio goes through, first asked first committed.

    On a pool of several threads "approve, then Ctrl+Z" could commit the undo first and leave the approval.
    """
    global _write_pool
    if _write_pool is None:
        _write_pool = QThreadPool()
        _write_pool.setMaxThreadCount(1)
    return _write_pool


class TaskRunner(QObject):
    """Runs callables on a thread pool; ``done``/``failed`` callbacks run on the GUI thread.

    Tasks are kept referenced until they report, so their signal objects outlive the worker thread's emit. A task
    that reports after the runner's owner was destroyed (a window closed while a read was running) is dropped: its
    callbacks would touch deleted widgets.
    """

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._live: set[_Task] = set()

    def submit(
        self,
        fn: Callable[[], Any],
        done: Callable[[Any], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
        *,
        priority: int = 0,
        after: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """Queue ``fn``; among waiting tasks a higher ``priority`` starts first.

        ``after`` delays the start (e.g. ``ui.after_paint``); the task counts as pending from now on.
        """
        task = _Task(fn)
        task.setAutoDelete(False)
        self._live.add(task)

        def finish(value: Any, callback: Callable[[Any], None] | None) -> None:
            if not shiboken6.isValid(self):
                return  # the owner (and with it this runner) is gone
            self._live.discard(task)
            if callback is not None:
                callback(value)

        task.signals.done.connect(lambda value: finish(value, done))
        task.signals.failed.connect(lambda exc: finish(exc, failed))
        if after is None:
            self.pool.start(task, priority)
        else:
            after(lambda: self.pool.start(task, priority))

    @property
    def pending(self) -> int:
        return len(self._live)


class JobController(QObject):
    """Drives one core job object (``run()`` blocking, ``cancel()`` from any thread) on a worker thread."""

    progress = Signal(object)  # depthstudio.jobs.runner.Progress (a snapshot)
    item = Signal(object)  # ItemEvent
    finished = Signal(object)  # Summary
    crashed = Signal(str)  # the job itself failed (not one item): a sentence for the status bar

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._running = False
        self._job: Any = None
        self._cancel_requested = False
        self.cleanup: Callable[[], None] | None = None  # set by make_job: e.g. close the backend it made
        self.title = ""

    @property
    def running(self) -> bool:
        """False from the moment the end is announced: the worker thread may still be alive for an instant after
        its last emit, and a window that heard "finished" must not be told the job is still running."""
        return self._running

    def start(self, title: str, make_job: Callable[[JobController], Any]) -> None:
        """Run ``make_job(self).run()`` on a worker thread; the job reports through ``on_progress``/``on_item``.

        The job is built on the worker too: making a backend can mean loading a model, which must not freeze
        the window.
        """
        if self.running:
            raise DepthstudioError(f"{self.title} is still running; cancel it or wait", kind="busy")
        self.title = title
        self._job = None
        self._cancel_requested = False
        self._running = True
        self._thread = threading.Thread(target=self._run, args=(make_job,), name=f"depthstudio-ui-{title}", daemon=True)
        self._thread.start()

    def on_progress(self, progress: Any) -> None:
        self.progress.emit(_snapshot(progress))

    def on_item(self, event: Any) -> None:
        self.item.emit(event)

    def cancel(self) -> None:
        self._cancel_requested = True
        job = self._job
        if job is not None and self.running:
            job.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the worker thread (shutdown, tests); True when it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self, make_job: Callable[[JobController], Any]) -> None:
        summary: Any = None
        error: str | None = None
        try:
            self._job = make_job(self)
            if self._cancel_requested:
                self._job.cancel()
            summary = self._job.run()
        except BaseException as exc:
            if not isinstance(exc, DepthstudioError):
                log.error("%s failed", self.title, exc_info=exc)
            error = f"{self.title} stopped: {describe(exc)}"
        finally:
            self._close()
            self._running = False
        if error is not None:
            self.crashed.emit(error)
        else:
            self.finished.emit(summary)

    def _close(self) -> None:
        cleanup, self.cleanup = self.cleanup, None
        if cleanup is not None:
            try:
                cleanup()
            except Exception:
                log.warning("closing %s's resources failed", self.title, exc_info=True)


def _snapshot(progress: Any) -> Any:
    """The runner mutates one Progress object; the GUI gets a frozen copy so it never reads a half-update."""
    snap = copy(progress)
    snap.outcomes = dict(progress.outcomes)
    return snap
