"""A depth model run with ONNX Runtime: the default local runtime (a small wheel, no torch needed).

The execution provider is the best one installed that starts: TensorRT (only with ``depth.tensorrt``), CUDA
(``onnxruntime-gpu``), DirectML (``onnxruntime-directml``), CoreML (the macOS wheel), then the CPU. Each is tried on
its own; one that raises or that ONNX Runtime silently drops (a missing CUDA or cuDNN library) is logged with its
reason and the next is tried, so a broken GPU install is a slower run with a line saying why, never a crash. What ran
is reported with each map. The input is ``pixel_values`` (N, 3, H, W) and the output ``predicted_depth`` (N, H, W), as
in the published export; pre- and postprocessing are the torch backend's (``depthstudio.depth.preprocess``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthstudio.cancel import CancelToken
from depthstudio.config import DepthConfig
from depthstudio.depth.models import GPU_PROVIDERS, DownloadProgress, ModelFile
from depthstudio.depth.preprocess import (
    PREPROCESSING,
    BatchedRuntime,
    Preprocessing,
    to_maps,
    to_network_input,
)
from depthstudio.errors import BackendError, ConfigError

log = logging.getLogger(__name__)

_SHORT = {
    "TensorrtExecutionProvider": "tensorrt",
    "CUDAExecutionProvider": "cuda",
    "DmlExecutionProvider": "directml",
    "CoreMLExecutionProvider": "coreml",
    "CPUExecutionProvider": "cpu",
}
_CPU = "CPUExecutionProvider"
_TENSORRT = "TensorrtExecutionProvider"


def choose_providers(available: Sequence[str], device: str = "auto", *, tensorrt: bool = False) -> list[str]:
    """GPU providers before the CPU; ``depth.device=cpu`` keeps to the CPU, ``cuda`` insists on CUDA. TensorRT goes
    first only when asked (``depth.tensorrt``): its first run per input shape builds an engine (minutes)."""
    trt = [_TENSORRT] if tensorrt and _TENSORRT in available else []
    if device == "cpu":
        return [_CPU]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise BackendError(
                "depth.device asks for CUDA but this ONNX Runtime has no CUDA provider; install onnxruntime-gpu "
                "or use depth.device=auto",
                kind="device_unavailable",
            )
        return [*trt, "CUDAExecutionProvider", _CPU]
    if device not in ("", "auto"):
        raise ConfigError(f"depth.device={device!r} is not one of auto, cuda, cpu for ONNX Runtime")
    return [*trt, *(p for p in GPU_PROVIDERS if p in available), _CPU]


def session_options(provider: str) -> Any:
    """Options per provider: DirectML needs sequential execution without memory patterns (its documented
    requirement); every provider gets the full graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # provider fallbacks are reported by us, not as warnings on stderr
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if provider == "DmlExecutionProvider":
        options.enable_mem_pattern = False
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def provider_options(
    provider: str, cache_dir: Path | None = None, *, shape: tuple[int, int, int] | None = None
) -> dict[str, str]:
    """CUDA: copies on the compute stream and an arena that grows by what is asked (a batch size that fits once
    fits again); TensorRT: fp16 engines cached under ``cache_dir``, built once for every batch up to ``shape``'s
    (batch, height, width) rather than once per batch size met (each build takes minutes)."""
    if provider == "CUDAExecutionProvider":
        return {
            "do_copy_in_default_stream": "1",
            "arena_extend_strategy": "kSameAsRequested",
            "cudnn_conv_algo_search": "EXHAUSTIVE",  # one input shape (518²) per model: searched once, reused
        }
    if provider == _TENSORRT:
        folder = str(cache_dir or _engine_cache())
        options = {
            "trt_fp16_enable": "1",
            "trt_engine_cache_enable": "1",
            "trt_engine_cache_path": folder,
            "trt_timing_cache_enable": "1",
            "trt_timing_cache_path": folder,
        }
        if shape is not None:
            batch, height, width = shape
            options["trt_profile_min_shapes"] = f"pixel_values:1x3x{height}x{width}"
            options["trt_profile_opt_shapes"] = options["trt_profile_max_shapes"] = (
                f"pixel_values:{batch}x3x{height}x{width}"
            )
        return options
    return {}


def _engine_cache() -> Path:
    from depthstudio.config import data_dir

    folder = data_dir() / "tensorrt"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class ProviderChoice:
    """Which provider took the session, and why the ones before it did not."""

    provider: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (provider, reason), in the order tried

    @property
    def device(self) -> str:
        return _SHORT.get(self.provider, self.provider)

    def why(self) -> str:
        """One sentence for the CLI and the studio."""
        if not self.skipped:
            return f"{self.provider} is the first provider available"
        tried = "; ".join(f"{_SHORT.get(p, p)} failed: {reason}" for p, reason in self.skipped)
        return f"{tried}; fell back to {self.device}"


def open_session(
    model: str | Path | bytes,
    candidates: Sequence[str],
    *,
    shape: tuple[int, int, int] | None = None,
) -> tuple[Any, ProviderChoice]:
    """The session on the first of ``candidates`` that starts, each tried on its own (with the CPU behind it for
    the nodes it cannot run). ONNX Runtime's own fallback is off: it prints to stdout and loses the reason.
    ``shape`` is the largest (batch, height, width) the session will see (TensorRT's optimisation profile)."""
    import onnxruntime as ort

    skipped: list[tuple[str, str]] = []
    for provider in candidates:
        providers: list[Any] = [(provider, provider_options(provider, shape=shape))]
        if provider == _TENSORRT and "CUDAExecutionProvider" in candidates:  # what TensorRT cannot build runs on CUDA
            providers.append(("CUDAExecutionProvider", provider_options("CUDAExecutionProvider")))
        if provider != _CPU:
            providers.append(_CPU)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                session = ort.InferenceSession(
                    model if isinstance(model, bytes) else str(model),
                    sess_options=session_options(provider),
                    providers=providers,
                    enable_fallback=0,
                )
            except Exception as exc:  # onnxruntime raises RuntimeError, its own Fail/InvalidGraph/EPFail types
                if provider == _CPU:
                    raise BackendError(
                        f"{model if not isinstance(model, bytes) else 'the model'} is not a loadable ONNX model: {exc}"[
                            :400
                        ],
                        kind="bad_weights",
                    ) from None
                reason = _first_line(exc)
                log.warning("ONNX Runtime's %s did not start (%s); trying the next provider", provider, reason)
                skipped.append((provider, reason))
                continue
        took = session.get_providers()[0] if session.get_providers() else ""
        if took != provider:
            noted = next((_first_line(w.message) for w in caught), "")
            reason = noted or "ONNX Runtime did not enable it (its libraries did not load; run with -v for its log)"
            log.warning("ONNX Runtime's %s did not start (%s); trying the next provider", provider, reason)
            skipped.append((provider, reason))
            continue
        choice = ProviderChoice(provider, skipped)
        if skipped:
            log.warning("depth runs on %s: %s", choice.device, choice.why())
        return session, choice
    raise BackendError(f"no ONNX Runtime provider of {list(candidates)} started", kind="device_unavailable")


def _first_line(value: object) -> str:
    text = str(value).strip().splitlines()
    return (text[0] if text else type(value).__name__)[:240]


def _out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or "failed to allocate" in text or "bad_alloc" in text


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
        batch_size: int = DepthConfig.batch_size,
        tensorrt: bool = False,
        providers: Sequence[str] | None = None,
    ) -> None:
        """``providers`` (tests, the GPU check) replaces the choice ``device`` and ``tensorrt`` make."""
        import onnxruntime as ort

        if batch_size < 1:
            raise ConfigError("depth.batch_size must be at least 1")
        self.model = model
        self.model_path = Path(model_path)
        self.preprocessing = preprocessing
        self.batch_size = batch_size
        self.available = list(ort.get_available_providers())
        candidates = list(providers) if providers else choose_providers(self.available, device, tensorrt=tensorrt)
        side = preprocessing.input_size(preprocessing.size, preprocessing.size)  # square crops: one input size
        self._session, self.choice = open_session(model_path, candidates, shape=(batch_size, *side))
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if "pixel_values" not in inputs or "predicted_depth" not in outputs:
            raise BackendError(
                f"{model_path} takes {inputs} and gives {outputs}; a depth model takes pixel_values and gives "
                "predicted_depth",
                kind="unsupported_model",
            )
        self.provider = self.choice.provider
        self.device = self.choice.device
        # An export with a fixed input size (some published ones are 518x518) takes every photo at that size; one
        # with free height and width takes the photo at its own aspect (the map covers the whole photo either way).
        dims = self._session.get_inputs()[0].shape
        self._fixed_shape = (dims[2], dims[3]) if len(dims) == 4 and all(isinstance(d, int) for d in dims[2:]) else None
        # Half-precision input when the graph takes it (the fp16 export, chosen for CUDA); fp32 otherwise.
        self._input_dtype = np.float16 if self._session.get_inputs()[0].type == "tensor(float16)" else np.float32
        # Where the output stays until the one copy back: the GPU's memory for CUDA/TensorRT, host memory otherwise.
        self._output_device = "cuda" if self.device in ("cuda", "tensorrt") else "cpu"
        from depthstudio.depth.devices import onnx_hint

        self.hint = onnx_hint(self.available, self.provider) if device in ("", "auto") else None

    @classmethod
    def for_model(
        cls,
        entry: ModelFile,
        path: Path,
        *,
        device: str = "auto",
        batch_size: int = DepthConfig.batch_size,
        tensorrt: bool = False,
        providers: Sequence[str] | None = None,
    ) -> OnnxBackend:
        backend = cls(
            path,
            model=entry.name,
            preprocessing=PREPROCESSING[entry.family],
            device=device,
            batch_size=batch_size,
            tensorrt=tensorrt,
            providers=providers,
        )
        from depthstudio.depth.models import INT8

        if entry in INT8.values():  # float32 in and out; the weights and matrix products are 8-bit
            backend._weights = "int8"
        return backend

    @property
    def precision(self) -> str:
        return getattr(self, "_weights", "") or np.dtype(self._input_dtype).name

    def why(self) -> str:
        """Which device runs and why, for the CLI and the studio (with what to install, where that is the reason)."""
        line = f"depth runs on {self.device} ({self.provider}, {self.precision}): {self.choice.why()}"
        return f"{line}. {self.hint}" if self.hint else line

    def _run_metadata(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "provider": self.provider,
            "device": self.device,
            "dtype": self.precision,
        }

    def _run(self, images: Sequence[Any]) -> list[np.ndarray]:
        """One copy in and one copy out per batch (I/O binding): the input is bound from host memory, the output
        is left where the provider wrote it and copied back once."""
        if self._session is None:
            raise BackendError("the local depth backend was used after close()", kind="closed")
        pixels = to_network_input(images, self.preprocessing, self._fixed_shape).astype(self._input_dtype, copy=False)
        binding = self._session.io_binding()
        binding.bind_cpu_input("pixel_values", np.ascontiguousarray(pixels))
        binding.bind_output("predicted_depth", self._output_device)
        try:
            self._session.run_with_iobinding(binding)
        except Exception as exc:  # onnxruntime's own error types
            if _out_of_memory(exc):
                raise BackendError(
                    f"the {self.device} device ran out of memory for a batch of {len(images)}; lower depth.batch_size",
                    kind="out_of_memory",
                ) from None
            raise BackendError(f"ONNX Runtime failed on {self.device}: {_first_line(exc)}", kind="inference") from None
        (depth,) = binding.copy_outputs_to_cpu()
        return to_maps(np.asarray(depth, dtype=np.float32), images[0].size)

    def close(self) -> None:
        self._session = None


def make_onnx_backend(
    config: Any, *, progress: DownloadProgress | None = None, cancel: CancelToken | None = None
) -> OnnxBackend:
    """The configured ONNX model: ``depth.local_weights`` or the pinned file from the hub (downloaded once).

    The file follows the provider (fp16 for CUDA); when the first provider does not start and the one that does
    wants the other file, that file is loaded (downloaded once) for it, so a CPU fallback never runs fp16."""
    import onnxruntime as ort

    from depthstudio.depth import models

    tensorrt = bool(getattr(config, "tensorrt", False))
    candidates = choose_providers(ort.get_available_providers(), config.device, tensorrt=tensorrt)
    entry = models.for_provider(config, candidates[0])
    path = models.locate(config, entry=entry, progress=progress, cancel=cancel)
    backend = OnnxBackend.for_model(entry, path, device=config.device, batch_size=config.batch_size, tensorrt=tensorrt)
    wanted = models.for_provider(config, backend.provider)
    if wanted == entry:
        return backend
    try:
        other = models.locate(config, entry=wanted, progress=progress, cancel=cancel)
    except BackendError as err:
        log.warning("%s runs %s, the file for %s, because %s", backend.device, entry.filename, candidates[0], err)
        return backend
    rest = candidates[candidates.index(backend.provider) :]
    fallback = OnnxBackend.for_model(wanted, other, device=config.device, batch_size=config.batch_size, providers=rest)
    fallback.choice.skipped[:0] = backend.choice.skipped
    fallback.hint = backend.hint
    backend.close()
    return fallback
