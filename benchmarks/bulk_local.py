"""``bulk_job.py --backend local``: generate-missing through the product path against the local model alone.

The model is Depth-Anything-V2-Small with random weights (the reduced test configuration, or ``--full`` for the
published widths), exported to ONNX once, and pinned to that file through ``depth.local_weights`` and the mirror
pin, so ``make_backend`` builds exactly what a user gets: ONNX Runtime behind the one micro-batching inference
worker, with imaging, QA, PNG encoding and the database in the job's threads. "Model alone" is the same
``OnnxBackend.predict_many`` in batches of ``depth.batch_size`` on the same avatars, in the same run: the ratio is
how much of the model's throughput the whole job keeps (target >= 0.9 on a CPU).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from depthstudio.depth.factory import describe, make_backend
from depthstudio.depth.onnx import OnnxBackend
from depthstudio.depth.preprocess import PREPROCESSING
from depthstudio.imaging import load_avatar
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.portal.repository import Portal
from tests.helpers import make_portal, portal_config, write_avatars

MODEL = "onnx-community/depth-anything-v2-small"


def _export(folder: Path, full: bool) -> Path:
    from depthstudio.depth.onnx_export import export_onnx
    from depthstudio.depth.torch_backend import DA_V2_SMALL, LocalBackend

    torch_backend = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=not full, device="cpu")
    return export_onnx(torch_backend.network, folder / "model.onnx", side=518)


def _model_alone(backend: OnnxBackend, loaded: list[Any], n: int, batch: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        backend.predict_many([loaded[j % len(loaded)] for j in range(i, min(n, i + batch))])
    return n / (time.perf_counter() - t0)


def main(
    args: argparse.Namespace,
    run_once: Callable[..., float],
    fresh_db: Callable[[str | None, Path], AbstractContextManager[str]],
) -> None:
    users = args.users if args.users != 10_000 else 1000  # bulk_job's default is for the free backend
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["DEPTHSTUDIO_DATA_DIR"] = str(tmp / "data")
        avatars = write_avatars(tmp / "avatars", 100, size=128)
        free = run_once(args.baseline_users, 0.0, args.concurrency, args.db, tmp, avatars)
        model_path = args.onnx or _export(tmp, args.full)
        with fresh_db(args.db, tmp) as url:
            make_portal(url, [avatars[i % len(avatars)] for i in range(users)])
            cfg = portal_config(url, tmp)
            cfg.depth.backend = "local"
            cfg.depth.local_weights = str(model_path)
            data = model_path.read_bytes()
            cfg.depth.model_revision = "0" * 40
            cfg.depth.model_sha256, cfg.depth.model_size = hashlib.sha256(data).hexdigest(), len(data)

            # The model alone, before and after the job (the mean of the two: a shared machine's load drifts).
            alone = OnnxBackend(
                model_path, model=MODEL, preprocessing=PREPROCESSING["depth_anything"], batch_size=cfg.depth.batch_size
            )
            loaded = [load_avatar(a, cfg.fetch.policy()) for a in avatars]
            alone.predict_many(loaded[: cfg.depth.batch_size])
            n = min(users, args.model_images)
            before = _model_alone(alone, loaded, n, cfg.depth.batch_size)
            portal = Portal.open(cfg)
            backend = make_backend(cfg)
            backend.predict(loaded[0])  # the same warm-up
            job = GenerateMissingJob(portal, backend, None, cfg, concurrency=args.concurrency)
            t0 = time.perf_counter()
            summary = job.run()
            product_rate = users / (time.perf_counter() - t0)
            assert summary.ok and summary.progress.done == users, summary.line()
            batches = list(getattr(backend, "batches", []))
            ran = describe(backend)
            backend.close()
            after = _model_alone(alone, loaded, n, cfg.depth.batch_size)
            model_rate = (before + after) / 2
            alone.close()
            portal.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    full_batches = sum(1 for b in batches if b == cfg.depth.batch_size) / max(1, len(batches))
    print(f"database            : {'PostgreSQL' if args.db else 'SQLite'}")
    print(f"backend             : {ran}; {'published' if args.full else 'reduced test'} widths, random weights")
    print(f"users, C, batch     : {users}, {args.concurrency}, {cfg.depth.batch_size}")
    print(f"baseline (L = 0)    : {free:.1f} users/s  (job overhead only, {args.baseline_users} users)")
    print(
        f"model alone         : {model_rate:.2f} images/s  ({n} images in batches of {cfg.depth.batch_size}, "
        f"before/after the job: {before:.2f}/{after:.2f})"
    )
    print(f"product path        : {product_rate:.2f} users/s  ({len(batches)} batches, {full_batches:.0%} full)")
    print(f"ratio product/model : {product_rate / model_rate:.2f}  (target >= 0.9 on a CPU)")
    print(f"peak RSS            : {rss_mb:.0f} MB  (this process, whole run)")
    print(
        json.dumps(
            {
                "backend": "local",
                "model": ran,
                "users": users,
                "baseline_users_per_s": free,
                "model_images_per_s": model_rate,
                "model_images_per_s_before_after": [before, after],
                "product_users_per_s": product_rate,
                "ratio": product_rate / model_rate,
                "peak_rss_mb": rss_mb,
            }
        )
    )
