"""One inference worker for many callers: the bulk runner's threads each call ``predict``; a single thread gathers
their avatars into batches of ``batch_size`` (waiting at most ``gather_s`` to fill one) and runs ``predict_many``.

So a GPU runs one batch at a time instead of N threads' batch-of-one passes, and the CPU's cores go to one
well-threaded session; fetching, imaging, QA, PNG encoding and the database stay parallel in the callers.
A failing batch is retried one avatar at a time, so each caller gets its own result or its own error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from depthstudio.cancel import CancelToken
from depthstudio.depth.backend import BatchDepthBackend, DepthPrediction
from depthstudio.errors import BackendError, Cancelled
from depthstudio.imaging.types import Avatar

_POLL_S = 0.1  # how often a waiting caller looks at its cancel token


@dataclass
class _Request:
    avatar: Avatar
    cancel: CancelToken | None
    future: Future[DepthPrediction]


class BatchingBackend:
    """A ``DepthBackend`` in front of a ``BatchDepthBackend``; same name and model, so results record what ran."""

    def __init__(self, inner: BatchDepthBackend, *, batch_size: int, gather_s: float = 0.01) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.batch_size = max(1, batch_size)
        self.gather_s = gather_s
        self.batches: list[int] = []  # sizes of the batches run, in order (the benchmark and tests read it)
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._queued = threading.Condition()
        self._waiting = 0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="depth-inference", daemon=True)
        self._thread.start()

    def __getattr__(self, item: str) -> Any:
        # runtime, provider, device, preprocessing: whatever the wrapped backend reports about itself
        if item == "inner":
            raise AttributeError(item)
        return getattr(self.inner, item)

    # --- callers (any thread) ---------------------------------------------------------------------------

    def predict(self, avatar: Avatar, *, cancel: CancelToken | None = None) -> DepthPrediction:
        if self._closed:
            raise BackendError("the local depth backend was used after close()", kind="closed")
        request = _Request(avatar, cancel, Future())
        with self._queued:
            self._waiting += 1
            self._queue.put(request)
            self._queued.notify_all()
        while True:
            try:
                return request.future.result(timeout=_POLL_S)
            except TimeoutError:
                if cancel is not None and cancel.cancelled and request.future.cancel():
                    raise Cancelled("the local depth prediction was cancelled") from None

    def predict_many(self, avatars: Sequence[Avatar], *, cancel: CancelToken | None = None) -> list[DepthPrediction]:
        return self.inner.predict_many(avatars, cancel=cancel)

    def wait_queued(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` requests wait for the inference thread (tests gate on this, not on sleeps)."""
        with self._queued:
            return self._queued.wait_for(lambda: self._waiting >= count, timeout=timeout)

    def close(self) -> None:
        """Stop the worker after the batch in flight; callers still waiting get a ``closed`` error."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is not None and request.future.set_running_or_notify_cancel():
                request.future.set_exception(BackendError("the depth backend was closed", kind="closed"))
        self.inner.close()

    # --- the inference thread ---------------------------------------------------------------------------

    def _take(self, block: bool, timeout: float | None = None) -> _Request | None:
        request = self._queue.get(block=block, timeout=timeout)
        if request is not None:
            with self._queued:
                self._waiting -= 1
        return request

    def _loop(self) -> None:
        while True:
            first = self._take(block=True)
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.gather_s
            stopping = False
            while len(batch) < self.batch_size:
                try:
                    # What is already queued joins at once; the window is only for requests still on their way.
                    nxt = self._take(block=True, timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            self._run(batch)
            if stopping:
                return

    def _run(self, batch: list[_Request]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        live = [r for r in live if not self._cancelled(r)]
        if not live:
            return
        self.batches.append(len(live))
        try:
            results = self.inner.predict_many([r.avatar for r in live])
        except BaseException as exc:  # every error goes back to a caller, never kills the worker
            if len(live) == 1:
                live[0].future.set_exception(exc)
                return
            for request in live:  # find whose avatar failed; the others still get their maps
                try:
                    request.future.set_result(self.inner.predict_many([request.avatar])[0])
                except BaseException as one:
                    request.future.set_exception(one)
            return
        for request, result in zip(live, results, strict=True):
            request.future.set_result(result)

    @staticmethod
    def _cancelled(request: _Request) -> bool:
        if request.cancel is not None and request.cancel.cancelled:
            request.future.set_exception(Cancelled("the local depth prediction was cancelled"))
            return True
        return False
