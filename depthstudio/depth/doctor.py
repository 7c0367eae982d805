"""What the local depth backend would run here, checked rather than assumed: ``depthstudio models doctor``.

When the model file is on this machine the session is really opened, so a GPU provider that does not start shows
up here with ONNX Runtime's reason, the same way it would in a run; nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Any

from depthstudio.depth import devices
from depthstudio.errors import BackendError, DepthstudioError

# The distributions that each install the ``onnxruntime`` package; two at once overwrite each other's files.
_ORT_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def diagnose(config: Any) -> dict[str, str]:
    """Runtime, providers, device, precision, model file, the GPU seen and the install hint, as label -> text."""
    from depthstudio.depth.factory import local_runtime

    report: dict[str, str] = {}
    gpu = devices.nvidia_gpu()
    report["nvidia gpu"] = gpu or "none found (nvidia-smi, CUDA driver library)"
    try:
        runtime = local_runtime(config)
    except DepthstudioError as err:
        report["error"] = str(err)
        return report
    if runtime == "onnxruntime":
        _onnx(config, report)
    else:
        _torch(config, report)
    first = [k for k in _ORDER if k in report]
    return {k: report[k] for k in [*first, *(k for k in report if k not in first)]}


_ORDER = ("runtime", "providers", "tried in order", "device", "precision", "batch size", "model file", "nvidia gpu")


def _onnx(config: Any, report: dict[str, str]) -> None:
    from depthstudio.depth import models

    installed = [f"{d} {v}" for d in _ORT_DISTRIBUTIONS if (v := _version(d))]
    report["runtime"] = "onnxruntime (" + (", ".join(installed) or "not installed") + ")"
    if len(installed) > 1:
        directml = any(i.startswith("onnxruntime-directml") for i in installed)
        line = devices.INSTALL_DIRECTML_ORT if directml else devices.INSTALL_NVIDIA_ORT
        report["warning"] = f"{' and '.join(installed)} overwrite each other's files; keep one: {line}"
    if importlib.util.find_spec("onnxruntime") is None:
        report["hint"] = "pip install onnxruntime (or see the README's GPU install lines)"
        return
    import onnxruntime as ort

    from depthstudio.depth.onnx import OnnxBackend, choose_providers

    available = list(ort.get_available_providers())
    report["providers"] = ", ".join(available)
    try:
        candidates = choose_providers(available, config.device, tensorrt=bool(getattr(config, "tensorrt", False)))
        entry = models.for_provider(config, candidates[0])
    except DepthstudioError as err:
        report["error"] = str(err)
        return
    report["tried in order"] = ", ".join(candidates)
    path = None
    try:
        path = models.locate(config, entry=entry) if config.local_weights else models.cached(entry)
    except BackendError as err:
        report["model file"] = f"{entry.name} {entry.filename}: {err}"
    if path is None:
        report.setdefault(
            "model file",
            f"{entry.name} {entry.filename} ({entry.size / 1e6:.1f} MB): not downloaded; "
            f"`depthstudio models fetch {entry.name}{_variant_flag(entry)}`",
        )
        report["device"] = f"{candidates[0]} (not checked: no model file here to open a session with)"
        report["precision"] = _variant_flag(entry).removeprefix(" --").replace("fp16", "float16") or "float32"
        hint = devices.onnx_hint(available, "CPUExecutionProvider") if candidates[0] == "CPUExecutionProvider" else None
        if hint and config.device in ("", "auto"):
            report["hint"] = str(hint)
        return
    report["model file"] = f"{entry.name} {entry.filename} at {path}"
    try:
        backend = OnnxBackend.for_model(
            entry, path, device=config.device, batch_size=config.batch_size, tensorrt=bool(config.tensorrt)
        )
    except DepthstudioError as err:
        report["device"] = f"no session: {err}"
        return
    report["device"] = f"{backend.device} ({backend.provider}): {backend.choice.why()}"
    report["precision"] = backend.precision
    report["batch size"] = str(backend.batch_size)
    if backend.hint:
        report["hint"] = str(backend.hint)
    backend.close()


def _torch(config: Any, report: dict[str, str]) -> None:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        report["runtime"] = f"torch: {', '.join(missing)} not installed (pip install 'depthstudio[local]')"
        return
    import torch

    from depthstudio.depth.torch_backend import resolve_device, resolve_dtype

    report["runtime"] = f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no'})"
    try:
        device = resolve_device(config.device)
        dtype = resolve_dtype(config.dtype, device)
    except DepthstudioError as err:
        report["error"] = str(err)
        return
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    report["device"] = f"{device}" + (f" ({name})" if name else "")
    # As LocalBackend runs it: autocast below fp32, channels-last on CUDA, transformers' SDPA attention.
    extras = [
        "autocast" if dtype != torch.float32 else "",
        "channels-last" if device.type == "cuda" else "",
        "SDPA attention",
    ]
    report["precision"] = ", ".join([str(dtype).removeprefix("torch."), *(e for e in extras if e)])
    report["model file"] = f"{config.local_model}" + (
        f" from {config.local_weights_dir or config.local_weights}"
        if (config.local_weights_dir or config.local_weights)
        else " (Hugging Face cache)"
    )
    hint = devices.torch_hint(device.type, config.device)
    if hint:
        report["hint"] = str(hint)


def _variant_flag(entry: Any) -> str:
    from depthstudio.depth import models

    if entry in models.FP16.values():
        return " --fp16"
    return " --int8" if entry in models.INT8.values() else ""
