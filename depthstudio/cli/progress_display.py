"""Progress for the terminal (a rich bar with rate and ETA) or for logs (a plain line every few seconds)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import TracebackType

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from depthstudio.jobs.progress import FAILED, HELD_OUTCOME, ItemEvent
from depthstudio.jobs.progress import Progress as JobProgress

log = logging.getLogger("depthstudio.run")


class ProgressReporter:
    """Called from worker threads; keeps the terminal output consistent under a lock."""

    def __init__(self, label: str, *, interactive: bool | None = None, every_s: float = 5.0) -> None:
        self.label = label
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.every_s = every_s
        self._lock = threading.Lock()
        self._last_line = 0.0
        self._last_shown: tuple[int, int] | None = None
        self._bar: Progress | None = None
        self._task: int | None = None

    def __enter__(self) -> ProgressReporter:
        if self.interactive:
            self._bar = Progress(
                TextColumn(f"[bold]{self.label}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.1f}/s"),
                TextColumn("[red]{task.fields[failed]} failed"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None, rate=0.0, failed=0)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def progress(self, p: JobProgress) -> None:
        with self._lock:
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, total=p.total, completed=p.done, rate=p.rate, failed=p.failed)
                return
            now = time.monotonic()
            shown = (p.done, p.total)
            if shown != self._last_shown and (now - self._last_line >= self.every_s or p.done == p.total):
                self._last_line, self._last_shown = now, shown
                eta = f", eta {p.eta_s:.0f}s" if p.eta_s else ""
                click.echo(f"{self.label}: {p.done}/{p.total} ({p.failed} failed, {p.rate:.1f}/s{eta})", err=True)

    def item(self, e: ItemEvent) -> None:
        """A failure goes to the log in full (``-v`` shows it); the summary groups them, so a log-less terminal
        sees each one once, and only the bar (someone watching) shows them as they happen."""
        if e.outcome == FAILED:
            line, style = f"failed: user {e.user_id}: [{e.error_kind}] {e.message}", "red"
        elif e.outcome == HELD_OUTCOME:  # made, not published: an editor must look (the summary counts them)
            line, style = f"held for review: user {e.user_id}: {e.message}", "yellow"
        else:
            return
        log.info("%s", line)
        if self._bar is not None:
            with self._lock:
                self._bar.console.print("  " + line, style=style, markup=False, highlight=False)
