"""Which accelerator this machine has, and the one line that says what to install when the runtime cannot use it.

A user with an NVIDIA card who ran ``pip install .`` gets the CPU build of ONNX Runtime (and often the CPU build of
torch): inference runs, slowly, and nothing else says why. Here the driver is looked for the way users would check it
themselves (``nvidia-smi``; the driver library when that tool is not on PATH), with a short timeout, once per process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass

_SMI_TIMEOUT_S = 3.0

# The install lines the README gives, per platform (one place, so the hint and the README cannot drift apart). Both
# wheels install the same ``onnxruntime`` package: measured with pip 23.2, installing the two in one transaction leaves
# the CPU build active, and uninstalling one breaks the other's files, so both go before the GPU build comes.
INSTALL_NVIDIA_ORT = "pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'onnxruntime-gpu[cuda,cudnn]'"
INSTALL_DIRECTML_ORT = "pip uninstall -y onnxruntime onnxruntime-directml && pip install onnxruntime-directml"
# PyPI's Linux torch wheel is the CUDA build; elsewhere (and for other CUDA versions) pytorch.org has the line.
INSTALL_NVIDIA_TORCH = "a CUDA build of PyTorch (Linux: pip install --force-reinstall torch; else https://pytorch.org/get-started/locally/)"


@functools.lru_cache(maxsize=1)
def nvidia_gpu() -> str | None:
    """The first NVIDIA GPU's name (``nvidia-smi``), ``"an NVIDIA GPU"`` when only the driver library is found, or
    None. Cached: the answer does not change while the process runs, and ``nvidia-smi`` takes a moment."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=_SMI_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            out = None
        if out is not None and out.returncode == 0:
            names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
            if names:
                return names[0]
    return "an NVIDIA GPU" if _driver_library() else None


def _driver_library() -> bool:
    """The CUDA driver library loads (Linux ``libcuda.so.1``, Windows ``nvcuda.dll``): a driver is installed."""
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", ctypes.util.find_library("cuda")]
    for name in names:
        if not name:
            continue
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


@dataclass(frozen=True)
class Hint:
    """What to install for an idle NVIDIA GPU: the full sentence for the CLI, a short form for a status bar."""

    gpu: str
    problem: str
    install: str

    def __str__(self) -> str:
        return f"{self.gpu} is here, but {self.problem}; for the GPU: {self.install}"

    def short(self) -> str:
        return f"{self.gpu} idle: {self.install}"


def onnx_hint(available: list[str], provider: str) -> Hint | None:
    """For a user whose NVIDIA card sits idle because this ONNX Runtime is the CPU build (or its CUDA provider did
    not start); None otherwise (a GPU provider runs, or there is no NVIDIA card)."""
    if provider != "CPUExecutionProvider":
        return None
    gpu = nvidia_gpu()
    if gpu is None:
        return None
    if "CUDAExecutionProvider" in available:
        return Hint(
            gpu,
            "ONNX Runtime's CUDA provider did not start (the reason is logged above; usually the CUDA/cuDNN wheels)",
            "pip install 'onnxruntime-gpu[cuda,cudnn]'",
        )
    if sys.platform == "win32" and "DmlExecutionProvider" not in available:
        install = f"{INSTALL_NVIDIA_ORT} (or, for any DirectX 12 GPU: {INSTALL_DIRECTML_ORT})"
    else:
        install = INSTALL_NVIDIA_ORT
    return Hint(gpu, "this ONNX Runtime is the CPU build, so depth maps run on the CPU", install)


def torch_hint(device: str, asked: str) -> Hint | None:
    """The same for the torch runtime: an NVIDIA card, ``depth.device=auto``, and a PyTorch without CUDA."""
    if device != "cpu" or asked not in ("", "auto"):
        return None
    gpu = nvidia_gpu()
    if gpu is None:
        return None
    import torch

    if torch.version.cuda is None:
        return Hint(gpu, "this PyTorch is the CPU build", INSTALL_NVIDIA_TORCH)
    return Hint(gpu, f"PyTorch (CUDA {torch.version.cuda}) sees no usable GPU", "a driver that nvidia-smi reports")
