"""Throughput of ``generate-missing`` against a backend with a fixed latency L.

With C items in flight and a backend that takes L seconds, the ideal is C / L items per second; the gap is the
job's own overhead (claiming, imaging, postprocessing, the result transaction). Also runs L = 0 in the same run:
that is the overhead-only baseline (how fast the job goes when the backend is free).

    python benchmarks/bulk_job.py                       # 10,000 users, L = 0.05 s, C = 16, SQLite
    python benchmarks/bulk_job.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/bulk_job.py --backend local       # 1,000 users through the local ONNX model (bulk_local.py)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.portal.repository import Portal
from tests.helpers import make_portal, portal_config, write_avatars


@contextmanager
def _fresh_db(base: str | None, tmp: Path) -> Iterator[str]:
    """A new database for one run; on PostgreSQL it is dropped afterwards, also when the run fails."""
    if not base:
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.sqlite3'}"
        return
    name = f"dsbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def run_once(
    users: int,
    latency: float,
    concurrency: int,
    db: str | None,
    tmp: Path,
    avatars: list[str],
    paced: list[str] | None = None,
) -> float:
    """Users per second of one run; ``paced`` gets how many of its threads the pacer let work (``limit/threads``)."""
    with _fresh_db(db, tmp) as url:
        make_portal(url, [avatars[i % len(avatars)] for i in range(users)])
        cfg = portal_config(url, tmp)
        portal = Portal.open(cfg)
        try:
            job = GenerateMissingJob(portal, SyntheticBackend(latency_s=latency), None, cfg, concurrency=concurrency)
            t0 = time.perf_counter()
            summary = job.run()
            elapsed = time.perf_counter() - t0
            if paced is not None:
                paced.append(f"{job.runner.pacer.limit}/{job.runner.threads}")
        finally:
            portal.close()
        assert summary.ok and summary.progress.done == users, summary.line()
        return users / elapsed


def _as_jpeg(avatars: list[str], tagged: bool) -> list[str]:
    """The same avatars as JPEGs, untagged or tagged Display P3 (a phone's photo, which decode converts to sRGB)."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    from PIL import Image

    from tests.icc import display_p3

    extra = {"icc_profile": display_p3()} if tagged else {}
    urls = []
    for url in avatars:
        path = Path(url2pathname(urlparse(url).path))
        out = path.with_name(f"{path.stem}-{'p3' if tagged else 'plain'}.jpg")
        with Image.open(path) as img:
            img.convert("RGB").save(out, quality=92, **extra)
        urls.append(out.as_uri())
    return urls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--db", default=os.environ.get("BENCH_DB"), help="PostgreSQL admin URL (default: SQLite)")
    ap.add_argument("--baseline-users", type=int, default=2000)
    ap.add_argument(
        "--backend", choices=("synthetic", "local"), default="synthetic", help="local: benchmarks/bulk_local.py"
    )
    ap.add_argument("--full", action="store_true", help="--backend local: the published widths, not the reduced ones")
    ap.add_argument("--model-images", type=int, default=200, help="--backend local: images timed for the model alone")
    ap.add_argument(
        "--p3",
        action="store_true",
        help="also run L = 0 with the avatars tagged Display P3 (a phone's photo): the cost of the ICC conversion",
    )
    args = ap.parse_args()
    if args.backend == "local":
        from benchmarks.bulk_local import main as local_main

        return local_main(args, run_once, _fresh_db)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["DEPTHSTUDIO_DATA_DIR"] = str(tmp / "data")
        avatars = write_avatars(tmp / "avatars", 100, size=128)
        paced: list[str] = []
        free = run_once(args.baseline_users, 0.0, args.concurrency, args.db, tmp, avatars, paced)
        p3_free = jpeg_free = None
        if args.p3:
            jpeg_free = run_once(args.baseline_users, 0.0, args.concurrency, args.db, tmp, _as_jpeg(avatars, False), [])
            p3_free = run_once(args.baseline_users, 0.0, args.concurrency, args.db, tmp, _as_jpeg(avatars, True), [])
        measured = run_once(args.users, args.latency, args.concurrency, args.db, tmp, avatars, paced)
    ideal = args.concurrency / args.latency
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database            : {'PostgreSQL' if args.db else 'SQLite'}")
    print(f"users, L, C         : {args.users}, {args.latency * 1000:.0f} ms, {args.concurrency}")
    print(f"baseline (L = 0)    : {free:.1f} users/s  (job overhead only, {args.baseline_users} users)")
    if p3_free is not None and jpeg_free is not None:
        print(f"baseline, JPEG      : {jpeg_free:.1f} users/s  (the same avatars as untagged JPEGs)")
        print(f"baseline, P3 JPEG   : {p3_free:.1f} users/s  (ratio {p3_free / jpeg_free:.3f}: ICC to sRGB at decode)")
    print(f"measured            : {measured:.1f} users/s")
    print(f"ideal C / L         : {ideal:.1f} users/s")
    print(f"ratio measured/ideal: {measured / ideal:.2f}")
    print(
        f"threads working     : {paced[0]} at L = 0, {paced[1]} at L = {args.latency * 1000:.0f} ms (paced / started)"
    )
    print(f"peak RSS            : {rss_mb:.0f} MB")
    figures = {
        "database": "postgresql" if args.db else "sqlite",
        "users": args.users,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "baseline_users_per_s": round(free, 1),
        "measured_users_per_s": round(measured, 1),
        "ideal_users_per_s": round(ideal, 1),
        "ratio": round(measured / ideal, 3),
        "threads_working": paced,
    }
    if p3_free is not None and jpeg_free is not None:
        figures["baseline_jpeg_users_per_s"] = round(jpeg_free, 1)
        figures["baseline_p3_users_per_s"] = round(p3_free, 1)
        figures["p3_ratio"] = round(p3_free / jpeg_free, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
