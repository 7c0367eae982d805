"""ONNX Runtime against torch eager on the same Depth-Anything-V2-Small weights, in one run (``local_depth.py``).

The torch network is built from the published configuration with random weights (no download; ``--full`` for the
published widths, else the reduced test configuration) and exported to ONNX in the published export's form. Both
runtimes go through the product's ``predict_many`` (shared pre/postprocessing) on the same 512² crops. ONNX
Runtime runs in a child process that never imports torch, as in the default install, so its peak RSS is its own;
torch's is this process's (RSS sampled every 5 ms). The maps are compared after min-max normalisation.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from depthstudio.imaging.types import Avatar, CropBox

MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "demo" / "avatars"


class RssSampler:
    """Peak resident memory over a window; /proc is read directly (no psutil in the environment)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * self._page
        except OSError:  # not Linux: the process-lifetime peak is the best available
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.005)

    def __enter__(self) -> RssSampler:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def avatars(n: int) -> list[Avatar]:
    """Real photos (the demo avatars, centre-cropped to 512^2), repeated to fill a batch."""
    photos = []
    for path in sorted(SAMPLES.glob("*.*g")):
        img = Image.open(path).convert("RGB")
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        crop = CropBox(left, top, left + side, top + side)
        square = img.crop((left, top, left + side, top + side)).resize((512, 512), Image.Resampling.BICUBIC)
        photos.append(Avatar(str(path), "0", img, square, crop))
    return [photos[i % len(photos)] for i in range(n)]


def _normalised(m: np.ndarray) -> np.ndarray:
    m = m.astype(np.float64)
    span = m.max() - m.min()
    return (m - m.min()) / span if span > 0 else m * 0


def time_batches(
    predict: Callable[[Sequence[Any]], list[Any]],
    avatars: Callable[[int], list[Any]],
    batch: int,
    iters: int,
    sampler: Any,
) -> tuple[float, int]:
    """Median images/s over ``iters`` timed batches (after one warm-up), and the peak RSS seen meanwhile."""
    items = avatars(batch)
    predict(items)
    rates = []
    with sampler() as rss:
        for _ in range(iters):
            t0 = time.perf_counter()
            predict(items)
            rates.append(batch / (time.perf_counter() - t0))
    return statistics.median(rates), rss.peak


def ort_child(model_path: str, batches: list[int], iters: int, maps_out: str) -> None:
    """The ONNX Runtime half, run as ``local_depth.py --ort-child``: prints one JSON object."""
    import onnxruntime as ort

    from depthstudio.depth.onnx import OnnxBackend
    from depthstudio.depth.preprocess import PREPROCESSING

    assert "torch" not in sys.modules
    rows = []
    provider = ""
    for batch in batches:
        backend = OnnxBackend(model_path, model=MODEL, preprocessing=PREPROCESSING["depth_anything"], batch_size=batch)
        provider = backend.provider
        rate, peak = time_batches(backend.predict_many, avatars, batch, iters, RssSampler)
        rows.append({"batch": batch, "images_per_s": rate, "peak_rss_mb": peak / 2**20, "device": backend.device})
        if batch == batches[0]:
            np.save(maps_out, np.stack([p.disparity for p in backend.predict_many(avatars(4))]))
    print(json.dumps({"provider": provider, "ort": ort.__version__, "rows": rows}))


def compare(batches: list[int], iters: int, full: bool, onnx: Path | None = None) -> list[dict[str, Any]]:
    """``onnx``: an export of the same seeded network made earlier (the tests' one), saving the ~20 s export."""
    import torch

    from depthstudio.depth.onnx_export import export_onnx
    from depthstudio.depth.preprocess import PREPROCESSING
    from depthstudio.depth.torch_backend import DA_V2_SMALL, LocalBackend

    first = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=not full, device="cpu", batch_size=batches[0])
    params = sum(p.numel() for p in first.network.parameters()) / 1e6
    label = f"{MODEL} ({'published' if full else 'reduced test'} configuration, random weights, {params:.1f}M)"
    print(f"model: {label}")
    print(f"torch {torch.__version__} eager on cpu, {torch.get_num_threads()} threads")
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as d:
        path = onnx or export_onnx(first.network, Path(d) / "model.onnx", side=518)
        torch_rows = []
        for batch in batches:
            backend = LocalBackend(
                first.network,
                model=MODEL,
                preprocessing=PREPROCESSING["depth_anything"],
                device="cpu",
                dtype="float32",
                batch_size=batch,
            )
            rate, peak = time_batches(backend.predict_many, avatars, batch, iters, RssSampler)
            torch_rows.append({"batch": batch, "images_per_s": rate, "peak_rss_mb": peak / 2**20, "device": "cpu"})
            if batch == batches[0]:
                torch_maps = np.stack([p.disparity for p in backend.predict_many(avatars(4))])
        maps = Path(d) / "ort.npy"
        child = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("local_depth.py")),
                "--ort-child",
                str(path),
                "--batches",
                ",".join(map(str, batches)),
                "--iters",
                str(iters),
                "--maps-out",
                str(maps),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        ort_result = json.loads(child.stdout.strip().splitlines()[-1])
        ort_maps = np.load(maps)
    diff = max(float(np.abs(_normalised(a) - _normalised(b)).max()) for a, b in zip(torch_maps, ort_maps, strict=True))
    print(f"onnxruntime {ort_result['ort']}, provider {ort_result['provider']}")
    for runtime, rows in (("torch", torch_rows), ("onnxruntime", ort_result["rows"])):
        for row in rows:
            records.append({"runtime": runtime, "model": label, "dtype": "float32", "max_abs_diff": diff, **row})
    return records


def report(records: list[dict[str, Any]]) -> None:
    print(f"\n{'runtime':12s} {'device':6s} {'batch':>5s} {'img/s':>8s} {'peak RSS MB':>11s}")
    for r in records:
        print(f"{r['runtime']:12s} {r['device']:6s} {r['batch']:5d} {r['images_per_s']:8.2f} {r['peak_rss_mb']:11.0f}")
    by = {(r["runtime"], r["batch"]): r["images_per_s"] for r in records}
    for runtime in ("torch", "onnxruntime"):
        best = max((r for r in records if r["runtime"] == runtime), key=lambda r: r["images_per_s"])
        print(f"{runtime}: best batch {best['batch']}, {best['images_per_s'] / by[(runtime, 1)]:.2f}x its batch 1")
    for batch in sorted({r["batch"] for r in records}):
        print(f"batch {batch}: onnxruntime/torch = {by[('onnxruntime', batch)] / by[('torch', batch)]:.2f}")
    print(f"max abs difference of the normalised maps (torch vs onnxruntime): {records[0]['max_abs_diff']:.2e}")
