"""A depth model run with ONNX Runtime: the default local runtime (a small wheel, no torch needed).

The execution provider is the best one installed: CUDA (``onnxruntime-gpu``), DirectML (``onnxruntime-directml``),
CoreML (the macOS wheel), then the CPU; the one that actually took the session is reported with each map. The
input is ``pixel_values`` (N, 3, H, W) and the output ``predicted_depth`` (N, H, W), as in the published export;
pre- and postprocessing are the torch backend's (``depthstudio.depth.preprocess``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from depthstudio.cancel import CancelToken
from depthstudio.depth.models import GPU_PROVIDERS, DownloadProgress, ModelFile
from depthstudio.depth.preprocess import (
    PREPROCESSING,
    BatchedRuntime,
    Preprocessing,
    to_maps,
    to_network_input,
)
from depthstudio.errors import BackendError, ConfigError

_SHORT = {
    "CUDAExecutionProvider": "cuda",
    "DmlExecutionProvider": "directml",
    "CoreMLExecutionProvider": "coreml",
    "CPUExecutionProvider": "cpu",
}


def choose_providers(available: Sequence[str], device: str = "auto") -> list[str]:
    """GPU providers before the CPU; ``depth.device=cpu`` keeps to the CPU, ``cuda`` insists on CUDA."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise BackendError(
                "depth.device asks for CUDA but this ONNX Runtime has no CUDA provider; install onnxruntime-gpu "
                "or use depth.device=auto",
                kind="device_unavailable",
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device not in ("", "auto"):
        raise ConfigError(f"depth.device={device!r} is not one of auto, cuda, cpu for ONNX Runtime")
    return [p for p in GPU_PROVIDERS if p in available] + ["CPUExecutionProvider"]


class OnnxBackend(BatchedRuntime):
    """A ``BatchDepthBackend`` over one ``onnxruntime.InferenceSession`` (thread-safe for ``run``)."""

    name = "local"
    runtime = "onnxruntime"

    def __init__(
        self,
        model_path: str | Path,
        *,
        model: str,
        preprocessing: Preprocessing,
        device: str = "auto",
        batch_size: int = 4,
    ) -> None:
        import onnxruntime as ort

        if batch_size < 1:
            raise ConfigError("depth.batch_size must be at least 1")
        self.model = model
        self.preprocessing = preprocessing
        self.batch_size = batch_size
        providers = choose_providers(ort.get_available_providers(), device)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # provider fallbacks are reported by us, not as warnings on stderr
        try:
            self._session: Any = ort.InferenceSession(str(model_path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise BackendError(f"{model_path} is not a loadable ONNX model: {exc}"[:400], kind="bad_weights") from None
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if "pixel_values" not in inputs or "predicted_depth" not in outputs:
            raise BackendError(
                f"{model_path} takes {inputs} and gives {outputs}; a depth model takes pixel_values and gives "
                "predicted_depth",
                kind="unsupported_model",
            )
        self.provider = self._session.get_providers()[0]
        self.device = _SHORT.get(self.provider, self.provider)
        # A GPU provider gets half-precision input when the graph takes it (an fp16 export); fp32 otherwise.
        self._input_dtype = np.float16 if self._session.get_inputs()[0].type == "tensor(float16)" else np.float32

    @classmethod
    def for_model(
        cls,
        entry: ModelFile,
        path: Path,
        *,
        device: str = "auto",
        batch_size: int = 4,
    ) -> OnnxBackend:
        return cls(
            path, model=entry.name, preprocessing=PREPROCESSING[entry.family], device=device, batch_size=batch_size
        )

    def _run_metadata(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "provider": self.provider,
            "device": self.device,
            "dtype": np.dtype(self._input_dtype).name,
        }

    def _run(self, images: Sequence[Any]) -> list[np.ndarray]:
        if self._session is None:
            raise BackendError("the local depth backend was used after close()", kind="closed")
        pixels = to_network_input(images, self.preprocessing).astype(self._input_dtype, copy=False)
        (depth,) = self._session.run(["predicted_depth"], {"pixel_values": pixels})
        return to_maps(np.asarray(depth, dtype=np.float32), images[0].size)

    def close(self) -> None:
        self._session = None


def make_onnx_backend(
    config: Any, *, progress: DownloadProgress | None = None, cancel: CancelToken | None = None
) -> OnnxBackend:
    """The configured ONNX model: ``depth.local_weights`` or the pinned file from the hub (downloaded once)."""
    import onnxruntime as ort

    from depthstudio.depth import models

    first = choose_providers(ort.get_available_providers(), config.device)[0]
    entry = models.for_provider(config, first)
    path = models.locate(config, entry=entry, progress=progress, cancel=cancel)
    return OnnxBackend.for_model(entry, path, device=config.device, batch_size=config.batch_size)
