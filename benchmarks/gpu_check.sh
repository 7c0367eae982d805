#!/usr/bin/env bash
# The GPU check. Installs the NVIDIA build of ONNX Runtime (with the CUDA and cuDNN wheels from PyPI) and PyTorch into
# a virtual environment of its own, checks that the CUDA provider is there, then runs benchmarks/gpu_check.py: the
# real-width models with random weights through predict_many on every provider and batch size; images/s, peak GPU
# memory, the ratio to the CPU; last line one JSON object. The measuring part stops itself at 240 s (--budget-s) and is
# killed at GPU_CHECK_TIMEOUT_S (280): under 5 minutes. The first install downloads ~4 GB (torch + CUDA wheels); later
# runs reuse the environment.
#
#   benchmarks/gpu_check.sh [--tensorrt] [--smoke]
#   GPU_CHECK_VENV=DIR                  where the environment lives (default $TMPDIR/depthstudio-gpu-check)
#   GPU_CHECK_SKIP_INSTALL=1            use this shell's python as it is (a machine without PyPI)
#   PIP_FIND_LINKS=DIR PIP_NO_INDEX=1   install from wheels copied beside it, as pip reads these itself
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${GPU_CHECK_SKIP_INSTALL:-}" = "1" ]; then
    python="${PYTHON:-python3}"
else
    venv="${GPU_CHECK_VENV:-${TMPDIR:-/tmp}/depthstudio-gpu-check}"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    python="$venv/bin/python"
    "$python" -m pip install -q "$repo[local]" onnx onnxscript
    # The CPU and GPU wheels install the same package: both go, then the GPU one comes (see the README).
    "$python" -m pip uninstall -q -y onnxruntime onnxruntime-gpu
    "$python" -m pip install -q 'onnxruntime-gpu[cuda,cudnn]'
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: no NVIDIA GPU" >&2
"$python" -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())'
cd "$repo"
exec timeout "${GPU_CHECK_TIMEOUT_S:-280}" "$python" benchmarks/gpu_check.py "$@"
