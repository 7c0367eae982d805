"""In-call retries: one policy object over ``tenacity``, and one reading of a server's ``Retry-After``.

These are the short waits inside one call (a 429 on Replicate's create, a dropped database connection). A failed
item that is tried again minutes later is the job queue's business (``jobs/runner.py``), by the same rule
(``RetryPolicy.delay``).
A server's hint is honoured before any backoff of our own: the error carries it as ``retry_after`` (seconds).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NoReturn, TypeVar

import tenacity

__all__ = ["RetryPolicy", "retry_after_seconds", "seconds_until"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait: ``attempts`` tries in all, the first wait ``first_s``, then doubled
    (``exponential``) or grown by ``first_s`` each time (``linear``), never longer than ``max_s`` (a server's
    hint included)."""

    attempts: int
    first_s: float = 1.0
    backoff: Literal["exponential", "linear"] = "exponential"
    max_s: float = 60.0

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """The wait after failed try number ``attempt`` (1-based): the server's hint if it gave one.

        The one retry rule, for the waits inside a call and for the job queue's retries minutes later: a hint
        (``Retry-After``) says when the service will take the request again; our backoff is the guess for when it
        says nothing. Waiting longer than told (the larger of the two) would slow a whole batch after a rate
        limit that the service itself has bounded; sooner would be refused again.
        """
        if hint is None:
            hint = self.first_s * (2.0 ** (attempt - 1) if self.backoff == "exponential" else attempt)
        return min(hint, self.max_s)

    def call(
        self,
        fn: Callable[[], T],
        *,
        retry_on: Callable[[BaseException], bool],
        give_up: Callable[[BaseException, int], NoReturn],
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> T:
        """``fn()``, tried again after the errors ``retry_on`` accepts; other errors pass through at once.

        When the tries run out, or the next wait would end past ``deadline`` (``time.monotonic()``), ``give_up``
        is called with the last error and the number of tries, and must raise. ``sleep`` may raise to stop the
        waiting (a ``CancelToken``'s sleep raises ``Cancelled``).
        """

        # The first try runs bare: tenacity's machinery, built for every call, cost more than a grouped database
        # round's own work in the bulk runner; it is only needed once a try has failed.
        try:
            return fn()
        except BaseException as exc:
            if not retry_on(exc):
                raise
            first = exc
        pause = self.delay(1, getattr(first, "retry_after", None))
        if self.attempts <= 1 or (deadline is not None and time.monotonic() + pause > deadline):
            give_up(first, 1)
        if on_retry is not None:
            on_retry(first, pause)
        sleep(pause)

        # tenacity counts the tries from here; ``done`` is the bare one above.
        done = 1

        def wait(state: tenacity.RetryCallState) -> float:
            return self.delay(state.attempt_number + done, getattr(_error(state), "retry_after", None))

        def stop(state: tenacity.RetryCallState) -> bool:
            late = deadline is not None and time.monotonic() + state.upcoming_sleep > deadline
            return state.attempt_number + done >= self.attempts or late

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is not None:
                on_retry(_error(state), state.upcoming_sleep)

        def after_last(state: tenacity.RetryCallState) -> NoReturn:
            give_up(_error(state), state.attempt_number + done)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(retry_on),
            wait=wait,
            stop=stop,
            sleep=sleep,
            before_sleep=before_sleep,
            retry_error_callback=after_last,
            reraise=True,
        )
        return retrying(fn)


def _error(state: tenacity.RetryCallState) -> BaseException:
    assert state.outcome is not None and state.outcome.failed
    error = state.outcome.exception()
    assert error is not None
    return error


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds from either of its forms, delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return seconds_until(when, now)


def seconds_until(when: datetime, now: float | None = None) -> float:
    """Seconds from ``now`` (default: the clock) to ``when``; a time already past is no wait at all."""
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
