"""One preprocessing and postprocessing path for every local runtime (PyTorch and ONNX Runtime).

Both runtimes see the same float32 input for the same photo and hand back the network's raw output to the same
resize, so the same weights give the same map whichever runtime ran them. Plain numpy + Pillow: the ONNX path
must not need torch, and the ``transformers`` image processors need torchvision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from depthstudio.cancel import CancelToken
from depthstudio.depth.backend import DepthPrediction
from depthstudio.errors import BackendError, Cancelled

log = logging.getLogger(__name__)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_HALF_MEAN = (0.5, 0.5, 0.5)
_HALF_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Preprocessing:
    """How a photo becomes the network's input, per the model's published processor configuration."""

    size: int  # target side; the input is scaled as little as possible towards size x size
    multiple: int  # the patch grid (14 for DINOv2, 32 for the DPT/BEiT decoder)
    keep_aspect: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of the network input, following ``DPTImageProcessor``'s rule: keep the aspect by
        using whichever of the two scale factors is closer to 1, then round each side to the nearest
        multiple."""
        sh, sw = self.size / height, self.size / width
        if self.keep_aspect:
            s = sw if abs(1 - sw) < abs(1 - sh) else sh
            sh = sw = s

        def snap(x: float) -> int:
            return max(self.multiple, round(x / self.multiple) * self.multiple)

        return snap(height * sh), snap(width * sw)

    def with_processor_config(self, data: dict[str, Any]) -> Preprocessing:
        """Override the built-in values with what a weights directory's ``preprocessor_config.json``
        says."""
        size = data.get("size") or {}
        side = size.get("height") if isinstance(size, dict) else size
        return replace(
            self,
            size=int(side or self.size),
            multiple=int(data.get("ensure_multiple_of") or self.multiple),
            keep_aspect=bool(data.get("keep_aspect_ratio", self.keep_aspect)),
            mean=tuple(data.get("image_mean") or self.mean),  # type: ignore[arg-type]
            std=tuple(data.get("image_std") or self.std),  # type: ignore[arg-type]
        )


# MiDaS-style defaults per family (DPTImageProcessor values); a preprocessor_config.json next to the weights
# (the published repositories have one) overrides them at load time.
PREPROCESSING: dict[str, Preprocessing] = {
    "depth_anything": Preprocessing(518, 14, True, _IMAGENET_MEAN, _IMAGENET_STD),
    "dpt": Preprocessing(512, 32, True, _HALF_MEAN, _HALF_STD),
}


def to_network_input(
    images: Sequence[Image.Image], prep: Preprocessing, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Same-size RGB images -> (N, 3, H, W) float32, bicubic (antialiased when shrinking, as Pillow does in
    the published processors), scaled to [0, 1], normalised by the model's mean/std. ``shape`` (height, width):
    an export whose input size is fixed takes that size whatever the photo's aspect (the map is scaled back)."""
    width, height = images[0].size
    in_h, in_w = shape or prep.input_size(width, height)
    mean = np.asarray(prep.mean, dtype=np.float32).reshape(1, 1, 3)
    std = np.asarray(prep.std, dtype=np.float32).reshape(1, 1, 3)
    batch = np.empty((len(images), 3, in_h, in_w), dtype=np.float32)
    for i, img in enumerate(images):
        rgb = img.convert("RGB")
        if (in_w, in_h) != (width, height):
            rgb = rgb.resize((in_w, in_h), Image.Resampling.BICUBIC)
        x = (np.asarray(rgb, dtype=np.float32) / 255.0 - mean) / std
        batch[i] = x.transpose(2, 0, 1)
    return batch


def to_maps(depth: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """The network's (N, h, w) output back to (width, height) = ``size`` of the crop, one float32 map each."""
    width, height = size
    out: list[np.ndarray] = []
    for m in np.asarray(depth, dtype=np.float32):
        if m.shape != (height, width):
            m = np.asarray(Image.fromarray(m, mode="F").resize((width, height), Image.Resampling.BICUBIC))
        out.append(np.ascontiguousarray(m, dtype=np.float32))
    return out


def predict_in_batches(
    avatars: Sequence[Any],
    *,
    batch_size: int | Callable[[], int],
    run: Callable[[list[Any]], list[np.ndarray]],
    preprocessing: Preprocessing,
    backend: str,
    model: str,
    metadata: dict[str, Any],
    cancel: CancelToken | None = None,
) -> list[DepthPrediction]:
    """Both local runtimes batch alike: same-size crops share a batch of at most ``batch_size`` (read before each
    batch when a callable: it may shrink to fit memory), cancel is checked between batches, and results come back
    in input order with what ran in their metadata."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, avatar in enumerate(avatars):
        groups.setdefault(avatar.image.size, []).append(i)
    results: list[DepthPrediction | None] = [None] * len(avatars)
    for indices in groups.values():
        start = 0
        while start < len(indices):
            if cancel is not None and cancel.cancelled:
                raise Cancelled("the local depth prediction was cancelled")
            size = batch_size() if callable(batch_size) else batch_size
            chunk = indices[start : start + size]
            start += len(chunk)
            maps = run([avatars[i].image for i in chunk])
            for i, disparity in zip(chunk, maps, strict=True):
                size = list(preprocessing.input_size(*avatars[i].image.size))
                results[i] = DepthPrediction(
                    disparity=disparity,
                    frame="crop",
                    backend=backend,
                    model=model,
                    metadata={**metadata, "input_size": size},
                )
    return [r for r in results if r is not None]


class BatchedRuntime:
    """``predict``/``predict_many`` for a local runtime that has ``_run`` (a batch of crops to maps), ``name``,
    ``model``, ``batch_size``, ``preprocessing`` and says what ran in ``_run_metadata``: both runtimes batch
    through :func:`predict_in_batches` the same way."""

    name: str
    model: str
    batch_size: int
    preprocessing: Preprocessing

    def _run(self, images: list[Any]) -> list[np.ndarray]:
        raise NotImplementedError

    def _run_metadata(self) -> dict[str, Any]:
        raise NotImplementedError

    def predict(self, avatar: Any, *, cancel: CancelToken | None = None) -> DepthPrediction:
        return self.predict_many([avatar], cancel=cancel)[0]

    def predict_many(self, avatars: Sequence[Any], *, cancel: CancelToken | None = None) -> list[DepthPrediction]:
        """Same-size crops share a batch of at most ``batch_size``; results in input order."""
        return predict_in_batches(
            avatars,
            batch_size=lambda: self.batch_size,
            run=self._run_fitting,
            preprocessing=self.preprocessing,
            backend=self.name,
            model=self.model,
            metadata=self._run_metadata(),
            cancel=cancel,
        )

    def _run_fitting(self, images: list[Any]) -> list[np.ndarray]:
        """``_run``, halving a batch the device has no memory for: the halves run now, and ``batch_size`` stays
        halved for later batches, so a GPU settles on the largest batch its free memory takes (a batch of one
        that does not fit is the caller's error)."""
        try:
            return self._run(images)
        except BackendError as err:
            if err.kind != "out_of_memory" or len(images) < 2:
                raise
        half = len(images) // 2
        if self.batch_size > half:
            log.warning("a batch of %d did not fit in memory; batches of %d from now on", len(images), half)
            self.batch_size = half
        maps: list[np.ndarray] = []
        while len(maps) < len(images):  # the size is read again each time: a part may shrink it further
            maps += self._run_fitting(images[len(maps) : len(maps) + self.batch_size])
        return maps
