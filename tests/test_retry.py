"""The retry rule: the server's hint first, our backoff otherwise, bounded by tries and a deadline; the same rule
for the waits inside a call and for the job queue's retries."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from depthstudio.cancel import CancelToken
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.errors import BackendError, Cancelled
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import jobs
from depthstudio.retry import RetryPolicy, retry_after_seconds
from tests.helpers import make_portal, portal_config, write_avatars


class Busy(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("busy")
        self.retry_after = retry_after


class GaveUp(Exception):
    pass


def _give_up(exc: BaseException, attempts: int):
    raise GaveUp(f"{attempts} tries, last: {exc}")


def _failing(times: int, hint: float | None = None):
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise Busy(hint)
        return "done"

    return fn, calls


def test_waits_double_without_a_hint_and_are_capped():
    waits: list[float] = []
    fn, calls = _failing(4)
    policy = RetryPolicy(attempts=5, first_s=1.0, max_s=5.0)
    out = policy.call(fn, retry_on=lambda e: isinstance(e, Busy), give_up=_give_up, sleep=waits.append)
    assert out == "done" and len(calls) == 5 and waits == [1.0, 2.0, 4.0, 5.0]


def test_linear_backoff_grows_by_the_first_wait():
    waits: list[float] = []
    fn, _ = _failing(3)
    RetryPolicy(attempts=6, first_s=0.2, backoff="linear").call(
        fn, retry_on=lambda e: isinstance(e, Busy), give_up=_give_up, sleep=waits.append
    )
    assert waits == pytest.approx([0.2, 0.4, 0.6])


def test_the_servers_hint_replaces_the_backoff_but_not_the_cap():
    waits: list[float] = []
    fn, _ = _failing(2, hint=30.0)
    RetryPolicy(attempts=3, max_s=12.0).call(
        fn, retry_on=lambda e: isinstance(e, Busy), give_up=_give_up, sleep=waits.append
    )
    assert waits == [12.0, 12.0]
    fn, _ = _failing(1, hint=0.0)
    waits.clear()
    RetryPolicy(attempts=3).call(fn, retry_on=lambda e: isinstance(e, Busy), give_up=_give_up, sleep=waits.append)
    assert waits == [0.0]


def test_out_of_tries_the_last_error_and_the_count_go_to_give_up():
    fn, calls = _failing(10)
    with pytest.raises(GaveUp, match="3 tries, last: busy"):
        RetryPolicy(attempts=3, first_s=0).call(
            fn, retry_on=lambda e: isinstance(e, Busy), give_up=_give_up, sleep=lambda s: None
        )
    assert len(calls) == 3


def test_a_wait_that_would_end_past_the_deadline_is_not_slept():
    slept: list[float] = []
    fn, calls = _failing(10, hint=120.0)
    with pytest.raises(GaveUp, match="1 tries"):
        RetryPolicy(attempts=5, max_s=300.0).call(
            fn,
            retry_on=lambda e: isinstance(e, Busy),
            give_up=_give_up,
            sleep=slept.append,
            deadline=time.monotonic() + 60.0,
        )
    assert len(calls) == 1 and slept == []


def test_an_error_it_does_not_retry_passes_through_at_once():
    calls = []

    def fn() -> None:
        calls.append(1)
        raise KeyError("other")

    with pytest.raises(KeyError):
        RetryPolicy(attempts=5).call(fn, retry_on=lambda e: isinstance(e, Busy), give_up=_give_up)
    assert len(calls) == 1


def test_a_cancel_during_the_wait_stops_the_retries():
    cancel = CancelToken()
    fn, calls = _failing(10)

    def sleep(seconds: float) -> None:
        cancel.cancel()
        cancel.sleep(seconds)

    with pytest.raises(Cancelled):
        RetryPolicy(attempts=5, first_s=30.0).call(
            fn, retry_on=lambda e: isinstance(e, Busy), give_up=_give_up, sleep=sleep
        )
    assert len(calls) == 1


def test_retry_after_reads_both_forms_of_the_header():
    now = datetime(2026, 12, 2, 1, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Wed, 02 Dec 2026 01:01:30 GMT", now) == 90.0
    assert retry_after_seconds("Wed, 02 Dec 2026 00:59:00 GMT", now) == 0.0  # already past: no wait
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


class _RateLimited(SyntheticBackend):
    """Says "429, try again in ``hint`` s" (or gives no hint), then stops the run: its job stays queued."""

    def __init__(self, hint: float | None) -> None:
        super().__init__()
        self.hint, self.runner = hint, None

    def predict(self, avatar, *, cancel=None):
        self.runner.stop()
        error = BackendError("HTTP 429", kind="rate_limited", transient=True)
        error.retry_after = self.hint
        raise error


@pytest.mark.parametrize(("hint", "expected_s"), [(None, 20.0), (0.5, 0.5), (90.0, 90.0)])
def test_the_job_queue_retries_by_the_same_rule(tmp_path, hint, expected_s):
    """A transient failure comes back after the service's Retry-After when it gave one (shorter or longer than
    our backoff), else after the backoff: ``RetryPolicy.delay``, not a second rule in the runner."""
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    avatars = write_avatars(tmp_path / "avatars", 1)
    make_portal(url, avatars)
    portal = Portal.open(portal_config(url, tmp_path))
    backend = _RateLimited(hint)
    runner = BulkRunner(portal, backend, None, policy=portal.config.fetch.policy(), backoff_s=20.0, concurrency=1)
    backend.runner = runner
    runner.queue.enqueue([("u00000", avatars[0])], max_attempts=3)
    summary = runner.run(until_empty=True)
    assert summary.progress.retried == 1
    with portal.engine.connect() as conn:
        status, not_before, updated = conn.execute(select(jobs.c.status, jobs.c.not_before, jobs.c.updated_at)).one()
    portal.close()
    assert status == "queued" and (not_before - updated).total_seconds() == pytest.approx(expected_s)
