"""A deterministic, model-free depth backend: the test double for jobs and benchmarks, and the demo's fallback.

It is *not* a depth estimator. It makes a plausible portrait-shaped disparity (a centred head-and-shoulders
prior modulated by the photo's luminance) so that downstream steps see realistic data without any weights.
"""

from __future__ import annotations

import time

import numpy as np

from depthstudio.cancel import CancelToken
from depthstudio.depth.backend import DepthPrediction
from depthstudio.errors import BackendError
from depthstudio.imaging.types import Avatar


def portrait_prior(gray: np.ndarray) -> np.ndarray:
    """Disparity from a centred ellipse (head) over a wider one (shoulders), lightly shaded by the photo."""
    h, w = gray.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    xn, yn = (x + 0.5) / w - 0.5, (y + 0.5) / h - 0.5
    head = np.clip(1.0 - ((xn / 0.28) ** 2 + ((yn + 0.08) / 0.36) ** 2), 0.0, 1.0)
    shoulders = np.clip(1.0 - ((xn / 0.5) ** 2 + ((yn - 0.55) / 0.35) ** 2), 0.0, 1.0)
    body = np.maximum(np.sqrt(head), 0.8 * np.sqrt(shoulders))
    return (0.15 + 0.75 * body + 0.1 * gray).astype(np.float32)


class SyntheticBackend:
    """``latency_s`` simulates a remote model; ``fail_for`` makes chosen avatars fail (tests, benchmarks)."""

    name = "synthetic"
    model = "portrait-prior-v1"

    def __init__(
        self,
        latency_s: float = 0.0,
        *,
        fail_for: frozenset[str] = frozenset(),
        transient_failures: int = 0,
    ) -> None:
        self.latency_s = latency_s
        self.fail_for = fail_for
        self._transient_left = transient_failures
        self.calls = 0

    def predict(self, avatar: Avatar, *, cancel: CancelToken | None = None) -> DepthPrediction:
        self.calls += 1
        if self.latency_s:
            if cancel is not None:
                cancel.sleep(self.latency_s)
            else:
                time.sleep(self.latency_s)
        if avatar.source in self.fail_for:
            raise BackendError(f"the synthetic backend was told to fail for {avatar.source}", kind="prediction_failed")
        if self._transient_left > 0:
            self._transient_left -= 1
            raise BackendError("simulated transient failure", kind="server_error", transient=True)
        gray = np.asarray(avatar.image.convert("L"), dtype=np.float32) / 255.0
        return DepthPrediction(disparity=portrait_prior(gray), frame="crop", backend=self.name, model=self.model)

    def close(self) -> None:
        return None
