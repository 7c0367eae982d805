"""The GPU check (run by ``benchmarks/gpu_check.sh``): the real-width depth models, random weights, through the
product's own ``predict_many`` on every provider this ONNX Runtime has and every batch size, plus the torch runtime.

Rows: runtime, provider/device, model, precision, batch, images/s (median of timed batches after a warm-up), peak GPU
memory (ONNX Runtime: the device's used memory sampled with ``nvidia-smi`` every 50 ms, less what was used before;
torch: ``torch.cuda.max_memory_allocated``) and the ratio to the CPU's batch-1 rate of the same model measured in this
run. The CPU rows include the int8 model (``quantize_dynamic``, uint8 weights: how the published
``model_quantized.onnx`` was made) against fp32, the figure the README gives as the int8 speed-up.

Everything runs against a deadline (``--budget-s``, default 240): a configuration that would start after it is
reported as skipped, so the script ends in time on a slow card. The last line is one JSON object.

    benchmarks/gpu_check.sh                       # on a GPU machine: installs the NVIDIA wheels, then this
    python benchmarks/gpu_check.py --smoke        # the reduced models on the CPU: the plumbing, in ~1 minute
    python benchmarks/gpu_check.py --cpu-only     # the int8 vs fp32 figure on this CPU (real widths)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.runtimes import avatars  # the demo photos, centre-cropped to 512²

DA, BEIT = "depth-anything/Depth-Anything-V2-Small-hf", "Intel/dpt-beit-large-512"
CPU = "CPUExecutionProvider"


class GpuMemory:
    """Peak used memory of GPU 0 while the block runs, by ``nvidia-smi`` (ONNX Runtime's arena is outside torch)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self.base_mb = 0.0
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("nvidia-smi") is not None

    @staticmethod
    def _used() -> float:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return float(out.stdout.strip().splitlines()[0])

    def __enter__(self) -> GpuMemory:
        if not self.available():
            return self
        self.base_mb = self.peak_mb = self._used()
        self._proc = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0", "-lms", "50"],
            stdout=subprocess.PIPE,
            text=True,
        )

        def read() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                if line.strip():
                    self.peak_mb = max(self.peak_mb, float(line.strip()))

        self._thread = threading.Thread(target=read, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
        if self._thread is not None:
            self._thread.join(10)


def timed(predict: Any, batch: int, iters: int) -> tuple[float, float]:
    """Median images/s over ``iters`` batches, after one warm-up batch (cuDNN's search, TensorRT's engine), and
    this process's CPU seconds per image (all threads): on a shared CPU the wall clock moves with the neighbours'
    load, the CPU time far less, so CPU-vs-CPU ratios are taken from it."""
    items = avatars(batch)
    predict(items)
    rates = []
    cpu_started = time.process_time()
    for _ in range(iters):
        started = time.perf_counter()
        predict(items)
        rates.append(batch / (time.perf_counter() - started))
    return statistics.median(rates), (time.process_time() - cpu_started) / (batch * iters)


def export_models(folder: Path, smoke: bool) -> dict[str, Path]:
    """DA-V2-S at 518², random weights: fp32, fp16 (as the published fp16 export: fp16 in and out) and int8."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from depthstudio.depth.onnx_export import export_onnx
    from depthstudio.depth.torch_backend import LocalBackend

    network = LocalBackend.with_random_weights(DA, tiny=smoke, device="cpu").network
    fp32 = export_onnx(network, folder / "model.onnx", side=518)
    half = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=False)
    onnx.save(half, str(folder / "model_fp16.onnx"))
    quantize_dynamic(str(fp32), str(folder / "model_int8.onnx"), weight_type=QuantType.QUInt8)
    return {"float32": fp32, "float16": folder / "model_fp16.onnx", "int8": folder / "model_int8.onnx"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="reduced models, CPU-sized batches")
    parser.add_argument("--cpu-only", action="store_true", help="skip GPU providers and the torch runtime")
    parser.add_argument("--tensorrt", action="store_true", help="also TensorRT (builds an engine per batch size)")
    parser.add_argument("--budget-s", type=float, default=240.0)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget_s

    import onnxruntime as ort

    from depthstudio.depth.onnx import OnnxBackend
    from depthstudio.depth.preprocess import PREPROCESSING

    available = ort.get_available_providers()
    gpu_providers = [] if args.cpu_only else [p for p in ("CUDAExecutionProvider",) if p in available]
    if args.tensorrt and "TensorrtExecutionProvider" in available and not args.cpu_only:
        gpu_providers.insert(0, "TensorrtExecutionProvider")
    card = ""
    if GpuMemory.available():
        card = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    print(f"card: {card or 'none'}; onnxruntime {ort.__version__}: {', '.join(available)}", flush=True)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    cpu_iters = 1 if args.smoke else 3
    gpu_batches = [1, 4] if args.smoke else [1, 8, 32, 64, 128]

    def run(label: str, fn: Any) -> None:
        if time.monotonic() > deadline:
            skipped.append(label)
            print(f"{label}: skipped (past the time budget)", flush=True)
            return
        try:
            row = fn()
        except Exception as exc:  # one configuration's failure (out of memory) is a row, the check goes on
            row = {"config": label, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        rows.append(row)
        print(json.dumps(row), flush=True)

    with tempfile.TemporaryDirectory() as d:
        files = export_models(Path(d), args.smoke)
        prep = PREPROCESSING["depth_anything"]

        def onnx_row(provider: str, precision: str, batch: int, iters: int) -> dict[str, Any]:
            backend = OnnxBackend(
                files[precision], model=DA, preprocessing=prep, batch_size=batch, providers=[provider]
            )
            if backend.provider != provider:
                raise RuntimeError(f"{provider} did not start: {backend.choice.why()}")
            with GpuMemory() if provider != CPU else _Nothing() as memory:
                rate, cpu_s = timed(backend.predict_many, batch, iters)
            backend.close()
            peak = memory.peak_mb - memory.base_mb if provider != CPU else None
            return {"runtime": "onnxruntime", "provider": provider, "model": DA, "precision": precision,
                    "batch": batch, "images_per_s": round(rate, 2), "cpu_s_per_image": round(cpu_s, 3),
                    "peak_gpu_mb": peak}  # fmt: skip

        # The CPU: fp32 (the default there) and int8, batch 1 and 4, interleaved so a shared machine's noise hits both.
        for batch in (1, 4):
            for precision in ("float32", "int8"):
                run(f"cpu {precision} b{batch}", lambda p=precision, b=batch: onnx_row(CPU, p, b, cpu_iters))
        for provider in gpu_providers:
            for batch in gpu_batches:
                run(f"{provider} fp16 b{batch}", lambda p=provider, b=batch: onnx_row(p, "float16", b, args.iters))
        if not args.cpu_only:
            _torch_rows(run, args, gpu_batches)

    cpu_rows = [r for r in rows if r.get("provider") == CPU and r.get("batch") == 1 and "images_per_s" in r]
    cpu = {r["precision"]: r["images_per_s"] for r in cpu_rows}
    cpu_s = {r["precision"]: r["cpu_s_per_image"] for r in cpu_rows}
    for row in rows:
        base = cpu.get("float32") if row.get("model") == DA else _beit_cpu(rows)
        if base and "images_per_s" in row:
            row["ratio_to_cpu"] = round(row["images_per_s"] / base, 2)
    best = {
        m: max((r["images_per_s"] for r in rows if r.get("model") == m and r.get("device", "") != "cpu"
                and r.get("provider") != CPU and "images_per_s" in r), default=None)
        for m in (DA, BEIT)
    }  # fmt: skip
    summary = {
        "card": card or None,
        "onnxruntime": ort.__version__,
        "providers": available,
        # fp32 CPU seconds per image over int8's: the int8 model's speed-up on this CPU (batch 1)
        "int8_speedup_cpu_b1": _ratio(cpu_s.get("float32"), cpu_s.get("int8")),
        "int8_speedup_cpu_b1_wall": _ratio(cpu.get("int8"), cpu.get("float32")),
        "best_gpu_images_per_s": best,
        "targets": {DA: 500, BEIT: 57},
        "skipped": skipped,
        "rows": rows,
        "smoke": args.smoke,
    }
    _table(rows, card)
    print(json.dumps(summary))


def _table(rows: list[dict[str, Any]], card: str) -> None:
    """The rows as the README's benchmark table (Markdown), ready to paste with the card's name."""
    print("\n| card | runtime | device | model | precision | batch | images/s | peak GPU MB | ratio to CPU |")
    print("| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        if "images_per_s" not in r:
            continue
        device = r.get("device") or str(r.get("provider", "")).removesuffix("ExecutionProvider").lower()
        peak = f"{r['peak_gpu_mb']:.0f}" if r.get("peak_gpu_mb") is not None else "-"
        ratio = r.get("ratio_to_cpu", "-")
        print(f"| {card or 'none'} | {r['runtime']} | {device} | {r['model'].split('/')[-1]} | {r['precision']} "
              f"| {r['batch']} | {r['images_per_s']} | {peak} | {ratio} |")  # fmt: skip


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


class _Nothing:
    peak_mb = base_mb = 0.0

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _beit_cpu(rows: list[dict[str, Any]]) -> float | None:
    return next((r["images_per_s"] for r in rows if r.get("model") == BEIT and r.get("device") == "cpu"), None)


def _torch_rows(run: Any, args: argparse.Namespace, gpu_batches: list[int]) -> None:
    """The torch runtime (the one for DPT-BEiT-L-512): CPU batch 1 as the base, then CUDA in bf16 per batch."""
    import torch

    from depthstudio.depth.torch_backend import LocalBackend

    built: dict[str, LocalBackend] = {}  # one random network per model (BEiT-L takes seconds to initialise)

    def row(model: str, device: str, batch: int, iters: int) -> dict[str, Any]:
        if model not in built:
            built[model] = LocalBackend.with_random_weights(model, tiny=args.smoke, device="cpu")
        first = built[model]
        backend = LocalBackend(
            first.network, model=model, preprocessing=first.preprocessing, device=device, batch_size=batch
        )
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        rate, _ = timed(backend.predict_many, batch, iters)
        peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
        out = {"runtime": "torch", "device": device, "model": model, "precision": backend.precision,
               "batch": batch, "images_per_s": round(rate, 2), "peak_gpu_mb": peak}  # fmt: skip
        backend.close()
        return out

    run("torch cpu beit b1", lambda: row(BEIT, "cpu", 1, 1))
    if not torch.cuda.is_available():
        return
    for model in (DA, BEIT):
        for batch in gpu_batches[:-1] if model == BEIT else gpu_batches:
            run(f"torch cuda {model} b{batch}", lambda m=model, b=batch: row(m, "cuda", b, args.iters))


if __name__ == "__main__":
    main()
