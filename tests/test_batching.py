"""One inference worker: concurrent callers' avatars become batches of ``batch_size``; each gets its own answer."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from depthstudio.cancel import CancelToken
from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.batching import BatchingBackend
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.errors import BackendError, Cancelled
from tests.avatars import avatar_from_image


class GatedBatches(SyntheticBackend):
    """The synthetic backend with ``predict_many``, whose first batch waits at a gate the test opens."""

    def __init__(self, bad: str | None = None) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.batch_calls: list[list[str]] = []
        self.bad = bad

    def predict_many(self, avatars: Sequence, *, cancel: CancelToken | None = None) -> list[DepthPrediction]:
        self.batch_calls.append([a.source for a in avatars])
        self.entered.set()
        assert self.gate.wait(10)
        if self.bad in (a.source for a in avatars):
            raise BackendError(f"cannot read {self.bad}", kind="bad_input")
        return [self.predict(a) for a in avatars]


def _avatar(i: int):
    rng = np.random.default_rng(i)
    return avatar_from_image(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), f"a{i}", 32)


def _call_all(backend: BatchingBackend, avatars: list, cancel: CancelToken | None = None) -> tuple[dict, list]:
    results: dict[str, object] = {}
    threads = []
    for a in avatars:

        def run(a=a) -> None:
            try:
                results[a.source] = backend.predict(a, cancel=cancel)
            except Exception as exc:
                results[a.source] = exc

        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
    return results, threads


def test_waiting_callers_are_served_in_batches_of_batch_size():
    inner = GatedBatches()
    backend = BatchingBackend(inner, batch_size=3, gather_s=0.0)
    avatars = [_avatar(i) for i in range(7)]
    results, threads = _call_all(backend, avatars[:1])
    assert inner.entered.wait(10)  # the first request is in the model, alone
    more, threads2 = _call_all(backend, avatars[1:])
    assert backend.wait_queued(6)  # the other six wait for the worker
    inner.gate.set()
    for t in threads + threads2:
        t.join(10)
    results.update(more)
    assert [len(c) for c in inner.batch_calls] == [1, 3, 3] and sorted(s for c in inner.batch_calls for s in c) == [
        a.source for a in avatars
    ]
    assert backend.batches == [1, 3, 3]
    for a in avatars:
        assert isinstance(results[a.source], DepthPrediction)
        np.testing.assert_array_equal(results[a.source].disparity, inner.predict(a).disparity)
    backend.close()


def test_a_failing_avatar_fails_only_its_caller():
    inner = GatedBatches(bad="a2")
    backend = BatchingBackend(inner, batch_size=4, gather_s=0.0)
    _first, t0 = _call_all(backend, [_avatar(0)])
    assert inner.entered.wait(10)
    rest, t1 = _call_all(backend, [_avatar(i) for i in (1, 2, 3)])
    assert backend.wait_queued(3)
    inner.gate.set()
    for t in t0 + t1:
        t.join(10)
    assert isinstance(rest["a2"], BackendError) and rest["a2"].kind == "bad_input"
    assert all(isinstance(rest[k], DepthPrediction) for k in ("a1", "a3"))
    backend.close()


def test_a_cancelled_caller_stops_waiting_and_is_not_run():
    inner = GatedBatches()
    backend = BatchingBackend(inner, batch_size=2, gather_s=0.0)
    _first, t0 = _call_all(backend, [_avatar(0)])
    assert inner.entered.wait(10)
    token = CancelToken()
    waiting, t1 = _call_all(backend, [_avatar(1)], cancel=token)
    assert backend.wait_queued(1)
    token.cancel()
    t1[0].join(10)
    assert isinstance(waiting["a1"], Cancelled)
    inner.gate.set()
    t0[0].join(10)
    backend.close()
    assert inner.batch_calls == [["a0"]]


def test_close_stops_the_worker_and_later_calls_are_refused():
    inner = GatedBatches()
    inner.gate.set()
    backend = BatchingBackend(inner, batch_size=2)
    assert isinstance(backend.predict(_avatar(0)), DepthPrediction)
    backend.close()
    assert not backend._thread.is_alive()
    with pytest.raises(BackendError) as err:
        backend.predict(_avatar(1))
    assert err.value.kind == "closed"
