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
GENERATED, PUBLISHED, STALE_OUTCOME, HELD_OUTCOME, FAILED, RETRY, CANCELLED, LOST = (
    "generated",
    "published",
    "stale",
    "held for review",  # made, but its QA flags keep it from a publish nobody reviews
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
    idle: str | None = None  # a run with no work: where the users stand ("nothing to do: 28 published, ...")
    notes: list[str] = field(default_factory=list)  # lines after the summary (the failed users held back)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled and self.fatal is None

    def line(self) -> str:
        """One sentence whose numbers add up: "30 users in 2.1s: 28 generated, 2 failed (3 retries)"."""
        o, done = self.progress.outcomes, self.progress.done
        if done == 0 and not o:
            parts = [self.idle or "nothing to do"]
        else:
            final = [f"{n} {k}" for k, n in sorted(o.items()) if n and k not in (RETRY, LOST)]
            head = f"{done} user{'s' if done != 1 else ''} in {self.progress.elapsed:.1f}s"
            parts = [f"{head}: {', '.join(final)}" if final else head]
            words = ((RETRY, "retry", "retries"), (LOST, "lease lost", "leases lost"))
            moved = [f"{o[k]} {one if o[k] == 1 else many}" for k, one, many in words if o.get(k)]
            if moved:
                parts[0] += f" ({', '.join(moved)})"
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
