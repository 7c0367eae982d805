"""The depth-backend interface: an avatar in, a float32 disparity map (white = near) out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from depthstudio.cancel import CancelToken
from depthstudio.imaging.types import Avatar

Frame = Literal["original", "crop"]


@dataclass
class DepthPrediction:
    """Raw model output. Any scale and offset; larger = nearer (disparity), like MiDaS.

    ``frame`` says which image the map covers: ``avatar.image`` ("crop", the model input; since issue 23 the whole
    photo at a bounded size) or the EXIF-oriented original at full size. The postprocessing brings both to
    ``avatar.image``'s frame and size.
    """

    disparity: np.ndarray  # float32, H x W
    frame: Frame
    backend: str
    model: str
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class DepthBackend(Protocol):
    """One file per implementation (replicate, local, synthetic); the job never knows which it drives."""

    name: str
    model: str

    def predict(self, avatar: Avatar, *, cancel: CancelToken | None = None) -> DepthPrediction:
        """Raise ``BackendError`` (with ``transient`` set for retryable faults) or ``Cancelled``."""
        ...

    def close(self) -> None: ...


class BatchDepthBackend(DepthBackend, Protocol):
    """A backend that is faster on batches (a local model on a GPU)."""

    def predict_many(
        self, avatars: Sequence[Avatar], *, cancel: CancelToken | None = None
    ) -> list[DepthPrediction]: ...
