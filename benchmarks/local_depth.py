"""Local depth runtimes on this machine: ONNX Runtime against torch eager (default), or a torch sweep.

Default: Depth-Anything-V2-Small with random weights (the reduced test configuration; ``--full`` for the
published widths), exported to ONNX, both runtimes through the product's ``predict_many`` on the same crops
(see benchmarks/runtimes.py): images/s at batch 1 and the best batch, peak RSS, the max abs difference of the
normalised maps, the provider/device. The last line is one JSON list, a record per runtime and batch.

``--torch-sweep``: the torch backend alone on the REAL DA-V2-Small (518^2) and DPT-BEiT-L-512 (512^2)
architectures, for each dtype and batch size, with "cpu s/img" (this process's CPU time per image: on a
shared machine it moves far less than the wall-clock rate) and peak memory (on CUDA
``torch.cuda.max_memory_allocated``; elsewhere the process RSS sampled every 5 ms, ~0.4 GB of it Python).

    python benchmarks/local_depth.py                         # ORT vs torch, reduced model: ~1 minute on 2 cores
    python benchmarks/local_depth.py --full --batches 1,4    # the published widths
    python benchmarks/local_depth.py --torch-sweep           # CPU: ~4 minutes on 2 cores
    python benchmarks/local_depth.py --smoke                 # seconds: that it still runs (CI runs every --smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.runtimes import RssSampler, avatars, compare, ort_child, report

if "--ort-child" in sys.argv:  # the ONNX Runtime half of the comparison: must not import torch
    child = argparse.ArgumentParser()
    child.add_argument("--ort-child")
    child.add_argument("--batches")
    child.add_argument("--iters", type=int)
    child.add_argument("--maps-out")
    a = child.parse_args()
    ort_child(a.ort_child, [int(b) for b in a.batches.split(",")], a.iters, a.maps_out)
    sys.exit(0)

import time

import torch

from depthstudio.depth.torch_backend import DA_V2_SMALL, DPT_BEIT_LARGE_512, LocalBackend
from depthstudio.errors import BackendError

MODELS = {"da-v2-s": DA_V2_SMALL, "dpt-beit-l-512": DPT_BEIT_LARGE_512}


@dataclass
class Run:
    """One configuration: its timings (one per round) and the highest peak memory seen."""

    dtype: str
    batch: int
    backend: LocalBackend
    rates: list[float] = field(default_factory=list)
    cpu_s_per_image: list[float] = field(default_factory=list)
    spent_s: float = 0.0
    peak_bytes: int = 0
    failed: str = ""

    @property
    def images_per_s(self) -> float:
        return statistics.median(self.rates)

    @property
    def cpu_s(self) -> float:
        return statistics.median(self.cpu_s_per_image)


def time_once(run: Run) -> None:
    batch = avatars(run.batch)
    cuda = run.backend.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with RssSampler() as rss:
        t0, c0 = time.perf_counter(), time.process_time()
        run.backend.predict_many(batch)  # ends with the host copy, so the device work is done
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    run.rates.append(run.batch / dt)
    run.cpu_s_per_image.append(cpu / run.batch)
    run.spent_s += dt
    run.peak_bytes = max(run.peak_bytes, torch.cuda.max_memory_allocated() if cuda else rss.peak)


def main() -> None:
    device_default = "cuda" if torch.cuda.is_available() else "cpu"
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch-sweep", action="store_true", help="the torch backend alone, every model and dtype")
    parser.add_argument("--full", action="store_true", help="compare on the published widths, not the reduced ones")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--batches", default="1,4,8,16,32" if device_default == "cuda" else "1,2")
    parser.add_argument("--iters", type=int, default=10 if device_default == "cuda" else 3, help="timed batches")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=15.0,
        help="no more rounds for a configuration after this much timing",
    )
    parser.add_argument("--smoke", action="store_true", help="the reduced model, batch 1, one timed batch: CI")
    parser.add_argument(
        "--onnx", type=Path, help="the reduced model's ONNX export made earlier (seed 0), not a new one"
    )
    args = parser.parse_args()
    if args.smoke:
        args.batches, args.iters = "1", 1

    batches = [int(b) for b in args.batches.split(",")]
    if not args.torch_sweep:
        wanted = batches if "--batches" in sys.argv or args.smoke else [1, 4, 8]
        records = compare(wanted, args.iters, args.full, args.onnx)
        report(records)
        print(json.dumps(records))
        return
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {os.cpu_count()} CPUs")
    results: dict[str, list[Run]] = {}
    for key in args.models.split(","):
        model_id = MODELS[key]
        t0 = time.perf_counter()
        first = LocalBackend.with_random_weights(model_id, device=args.device, dtype="float32")
        params = sum(p.numel() for p in first.network.parameters()) / 1e6
        cuda = first.device.type == "cuda"
        name = torch.cuda.get_device_name(first.device) if cuda else str(first.device)
        print(f"\n{key}: {params:.0f}M parameters, built in {time.perf_counter() - t0:.1f} s, device {name}")
        runs: list[Run] = []
        for dtype in args.dtypes.split(","):
            for batch in batches:
                backend = LocalBackend(
                    first.network,
                    model=model_id,
                    preprocessing=first.preprocessing,
                    device=args.device,
                    dtype=dtype,
                    batch_size=batch,
                )
                runs.append(Run(dtype, batch, backend))
        # Warm-up (allocator, kernels, autocast caches): per shape on a GPU, once per dtype on the CPU where a
        # large model's extra pass would cost minutes.
        for run in runs:
            if cuda or run.batch == batches[0]:
                try:
                    run.backend.predict_many(avatars(run.batch))
                except BackendError as exc:
                    run.failed = str(exc)
        # Rounds over all configurations, so that a change in machine load hits every one alike.
        for _ in range(args.iters):
            for run in runs:
                if run.failed or (run.rates and run.spent_s >= args.budget_s):
                    continue
                try:
                    time_once(run)
                except BackendError as exc:  # out of memory at a large batch: report it, keep the rest
                    run.failed = str(exc)
        for run in runs:
            if run.failed:
                print(f"  {run.dtype:9s} batch {run.batch:3d}: failed: {run.failed}")
            else:
                gib = run.peak_bytes / 2**30
                print(
                    f"  {run.dtype:9s} batch {run.batch:3d}: {run.images_per_s:7.2f} img/s  "
                    f"cpu {run.cpu_s:6.2f} s/img  peak {gib:6.2f} GiB  ({len(run.rates)} timed)"
                )
        results[key] = [r for r in runs if not r.failed]
        del first, runs
        if cuda:
            torch.cuda.empty_cache()

    print("\nsummary (ratio = images/s against batch 1 float32 of the same model, this run)")
    print(
        f"{'model':15s} {'dtype':9s} {'batch':>5s} {'img/s':>8s} {'s/img':>7s} {'cpu s/img':>9s} "
        f"{'peak GiB':>8s} {'ratio':>6s}"
    )
    for key, mine in results.items():
        base = next((r for r in mine if r.dtype == "float32" and r.batch == 1), None)
        for dtype in dict.fromkeys(r.dtype for r in mine):
            rows = [r for r in mine if r.dtype == dtype]
            best = max(rows, key=lambda r: r.images_per_s)
            for r in rows:
                if r.batch != 1 and r is not best:
                    continue
                ratio = f"{r.images_per_s / base.images_per_s:5.2f}x" if base else "  n/a"
                label = f"{r.batch}" + ("*" if r is best and r.batch != 1 else "")
                print(
                    f"{key:15s} {dtype:9s} {label:>5s} {r.images_per_s:8.2f} {1 / r.images_per_s:7.3f} "
                    f"{r.cpu_s:9.2f} {r.peak_bytes / 2**30:8.2f} {ratio:>6s}"
                )
    print("* best batch size for that dtype")


if __name__ == "__main__":
    main()
