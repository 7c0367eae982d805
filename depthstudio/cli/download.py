"""Progress of the one-time model download: a rich bar on a terminal, a plain log line every 10 % otherwise."""

from __future__ import annotations

import sys
import threading

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn


class DownloadReporter:
    """A ``DownloadProgress`` callable; ``close()`` ends the bar. Does nothing when nothing is downloaded."""

    def __init__(self, interactive: bool | None = None) -> None:
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self._bar: Progress | None = None
        self._task: int | None = None
        self._logged = -1
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int, name: str) -> None:
        with self._lock:
            if self.interactive:
                if self._bar is None:
                    self._bar = Progress(
                        TextColumn("downloading {task.description}"),
                        BarColumn(),
                        DownloadColumn(),
                        TransferSpeedColumn(),
                        console=Console(stderr=True),
                    )
                    self._bar.start()
                    self._task = self._bar.add_task(name, total=total or None)
                self._bar.update(self._task, completed=done)  # type: ignore[arg-type]
                return
            tenth = done * 10 // total if total else 0
            if tenth != self._logged:
                self._logged = tenth
                click.echo(f"downloading {name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB", err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
