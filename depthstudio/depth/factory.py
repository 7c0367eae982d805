"""Backend by name, so the job, the CLI and the studio never import a backend module themselves.

Each backend's heavy dependencies (onnxruntime, torch, the replicate client) load only when that backend is chosen.
``auto`` (the default) is Replicate when a Replicate token is configured and the local model otherwise, so a new
user with no account still gets depth maps.
"""

from __future__ import annotations

import importlib.util

from depthstudio.cancel import CancelToken
from depthstudio.config import Config, DepthConfig, get_secret
from depthstudio.depth.backend import DepthBackend
from depthstudio.depth.models import MODELS, DownloadProgress
from depthstudio.errors import BackendError, ConfigError

BACKENDS = ("auto", "replicate", "local", "synthetic")
RUNTIMES = ("auto", "onnxruntime", "torch")


def resolve_name(config: Config, name: str | None = None) -> str:
    """The backend ``auto`` stands for here: ``replicate`` with a token (env or keyring), else ``local``."""
    chosen = (name or config.depth.backend or "auto").strip().lower()
    if chosen == "auto":
        return "replicate" if get_secret("replicate_token") else "local"
    return chosen


def local_runtime(config: DepthConfig) -> str:
    """``auto``: ONNX Runtime for the pinned ONNX exports, torch for ``transformers`` models (DPT-BEiT-L)."""
    runtime = (config.local_runtime or "auto").strip().lower()
    if runtime not in RUNTIMES:
        raise ConfigError(f"depth.local_runtime={runtime!r}; choose one of: {', '.join(RUNTIMES)}")
    if runtime == "auto":
        return "onnxruntime" if config.local_model in MODELS else "torch"
    return runtime


def make_backend(
    config: Config,
    name: str | None = None,
    *,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> DepthBackend:
    """``name`` overrides ``config.depth.backend`` (the CLI's ``--backend``). ``progress`` sees the one-time model
    download; ``cancel`` stops it. Local backends come behind one micro-batching inference worker."""
    chosen = resolve_name(config, name)
    if chosen == "synthetic":
        from depthstudio.depth.synthetic import SyntheticBackend

        return SyntheticBackend()
    if chosen == "local":
        from depthstudio.depth.batching import BatchingBackend

        depth = config.depth
        if local_runtime(depth) == "onnxruntime":
            if importlib.util.find_spec("onnxruntime") is None:
                raise BackendError(
                    "the local backend needs ONNX Runtime; install it with `pip install onnxruntime` "
                    "(or onnxruntime-gpu / onnxruntime-directml for a GPU)",
                    kind="not_installed",
                )
            from depthstudio.depth.onnx import make_onnx_backend

            inner = make_onnx_backend(depth, progress=progress, cancel=cancel)
        else:
            missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
            if missing:
                raise BackendError(
                    f"the torch runtime needs PyTorch and transformers ({', '.join(missing)} missing); "
                    "install them with `pip install 'depthstudio[local]'`",
                    kind="not_installed",
                )
            from depthstudio.depth.torch_backend import make_local_backend

            inner = make_local_backend(depth)
        return BatchingBackend(inner, batch_size=depth.batch_size, gather_s=depth.batch_gather_ms / 1000)
    if chosen == "replicate":
        from depthstudio.depth.replicate import make_replicate_backend

        return make_replicate_backend(config.depth)
    raise ConfigError(f"unknown depth backend {chosen!r}; choose one of: {', '.join(BACKENDS)}")


def describe(backend: DepthBackend) -> str:
    """What ran, for the CLI summary and the status bar: backend, model, runtime and device where known."""
    extra = [str(v) for v in (getattr(backend, "runtime", None), getattr(backend, "device", None)) if v]
    return f"{backend.name} · {backend.model}" + (f" ({', '.join(extra)})" if extra else "")


def explain(backend: DepthBackend) -> str | None:
    """Which device a local backend runs on and why (a provider that did not start, and what to install when an
    NVIDIA GPU sits idle); None for backends that have no device here (Replicate, synthetic)."""
    why = getattr(backend, "why", None)
    return str(why()) if callable(why) else None


def install_hint(backend: DepthBackend) -> str | None:
    """The short line saying what to install, when an NVIDIA GPU is here but the CPU runs; else None."""
    hint = getattr(backend, "hint", None)
    return hint.short() if hint is not None and hasattr(hint, "short") else None


def planned(config: Config) -> str:
    """What a run would use, before any backend is made (no model loaded, no download): for the status bar."""
    chosen = resolve_name(config)
    if chosen == "local":
        return f"local · {config.depth.local_model} ({local_runtime(config.depth)})"
    if chosen == "replicate":
        return f"replicate · {config.depth.replicate_model}"
    return chosen
