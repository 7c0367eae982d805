"""A bulk run's bookkeeping: item outcomes, progress with rate and ETA, the failures, and the summary.

One ``Tally`` serves both the queue's runner (generate, then maybe publish) and the publish-approved job, so
the CLI line and the studio's progress bar count the same way whichever job ran. Qt-free; the callbacks are
called from worker threads (the studio bridges them to signals).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Item outcomes as the CLI summary and the studio's failure list show them.
GENERATED, PUBLISHED, STALE_OUTCOME, FAILED, RETRY, CANCELLED, LOST = (
    "generated",
    "published",
    "stale",
    "failed",
    "retry",
    "cancelled",
    "lost",
)


@dataclass(frozen=True)
class ItemEvent:
    user_id: str
    outcome: str
    error_kind: str | None = None
    message: str | None = None
    result_id: int | None = None
    attempt: int = 1


@dataclass
class Progress:
    total: int
    done: int = 0  # items that reached a final outcome in this run
    failed: int = 0
    retried: int = 0
    in_flight: int = 0
    started_at: float = field(default_factory=time.monotonic)
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return max(1e-9, time.monotonic() - self.started_at)

    @property
    def rate(self) -> float:
        """Finished items per second since the start."""
        return self.done / self.elapsed

    @property
    def eta_s(self) -> float | None:
        if self.done == 0 or self.total <= self.done:
            return None if self.total > self.done else 0.0
        return (self.total - self.done) / self.rate

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)


@dataclass
class Summary:
    progress: Progress
    failures: list[ItemEvent]
    cancelled: bool
    fatal: str | None = None  # the run stopped early for a reason that is nobody's item (database gone)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled and self.fatal is None

    def line(self) -> str:
        o = self.progress.outcomes
        parts = [f"{self.progress.done} done in {self.progress.elapsed:.1f}s"]
        parts += [f"{n} {k}" for k, n in sorted(o.items()) if n]
        if self.cancelled:
            parts.append("cancelled")
        if self.fatal:
            parts.append(f"stopped: {self.fatal}")
        return ", ".join(parts)


ProgressCallback = Callable[[Progress], None]
ItemCallback = Callable[[ItemEvent], None]


class Tally:
    """One run's counts, updated from any thread under ``lock`` (the caller's, when it guards more state)."""

    def __init__(self, total: int, *, lock: threading.Lock | None = None) -> None:
        self.progress = Progress(total=total)
        self.failures: list[ItemEvent] = []
        self.lock = lock or threading.Lock()

    def record(self, event: ItemEvent, *, final: bool = True) -> None:
        """Count one outcome; ``final`` ones (not a retry, a cancel or a lost lease) count as done."""
        with self.lock:
            self.progress.outcomes[event.outcome] = self.progress.outcomes.get(event.outcome, 0) + 1
            if final:
                self.progress.done += 1
                self.progress.total = max(self.progress.total, self.progress.done)
            if event.outcome == FAILED:
                self.progress.failed += 1
                self.failures.append(event)

    def report(
        self, event: ItemEvent | None, on_item: ItemCallback | None, on_progress: ProgressCallback | None
    ) -> None:
        """Tell the observers: the item (when there is one), then the progress."""
        if event is not None and on_item:
            on_item(event)
        if on_progress:
            on_progress(self.progress)

    def summary(self, *, cancelled: bool, fatal: str | None = None) -> Summary:
        return Summary(self.progress, list(self.failures), cancelled=cancelled, fatal=fatal)
