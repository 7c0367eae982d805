"""A cancellation token shared by the CLI (Ctrl-C), the studio window and the workers."""

from __future__ import annotations

import threading

from depthstudio.errors import Cancelled


class CancelToken:
    """Cooperative cancellation: long operations poll ``raise_if_cancelled`` or wait on it instead of sleeping."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")

    def sleep(self, seconds: float) -> None:
        """Sleep that wakes up at once on cancel (used for backoff and polling)."""
        if self._event.wait(max(0.0, seconds)):
            raise Cancelled("cancelled")
