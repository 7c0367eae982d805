"""Scale-out: 1, 2 and 4 ``depthstudio worker`` processes sharing one PostgreSQL queue.

The Replicate and Cloudinary protocol servers (tests/servers) run in this process with injected latency, so a
job costs about L = replicate latency + upload latency of waiting. With W workers of C threads each, the ideal
is W * C / L jobs per second; the ratio shows what the queue, the leases and the processes cost.

    python benchmarks/workers.py --users 300 --latency 0.4 --threads 4
    python benchmarks/workers.py --smoke    # seconds: that it still runs (CI runs every --smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bulk_job import fresh_db
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal
from tests.helpers import make_portal, maps_only, portal_config, write_avatars
from tests.servers.cloudinary_server import running_cloudinary_server
from tests.servers.replicate_server import ReplicateServer

ADMIN = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def run(workers: int, args: argparse.Namespace, tmp: Path, avatars: list[str]) -> float:
    with fresh_db(ADMIN, tmp) as db:
        return _run(db, workers, args, tmp, avatars)


def _run(db: str, workers: int, args: argparse.Namespace, tmp: Path, avatars: list[str]) -> float:
    make_portal(db, [avatars[i % len(avatars)] for i in range(args.users)])
    portal = Portal.open(portal_config(db, tmp))
    JobQueue(portal).enqueue(portal.ids_needing_depth(), publish=True)
    with ReplicateServer() as replicate, running_cloudinary_server(latency_s=args.upload_latency) as cloud:
        replicate.faults.latency_s = args.latency
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "DEPTHSTUDIO_PORTAL_URL": db,
            "DEPTHSTUDIO_DATA_DIR": str(tmp / "data"),
            "DEPTHSTUDIO_FETCH_CROP_SIZE": "128",
            "DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS": "true",  # the benchmark portal's avatars are files
            "DEPTHSTUDIO_DEPTH_BACKEND": "replicate",
            "DEPTHSTUDIO_DEPTH_REPLICATE_BASE_URL": replicate.url,
            "REPLICATE_API_TOKEN": replicate.token,
            "DEPTHSTUDIO_STORAGE_KIND": "cloudinary",
            "DEPTHSTUDIO_STORAGE_CLOUDINARY_UPLOAD_PREFIX": cloud.upload_prefix,
            "CLOUDINARY_URL": cloud.cloudinary_url,
        }
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "depthstudio",
                    "worker",
                    "--until-empty",
                    "--poll",
                    "0.2",
                    "--concurrency",
                    str(args.threads),
                ],
                env=env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        errors = [p.communicate()[1] for p in procs]
        elapsed = time.perf_counter() - t0
        assert [p.returncode for p in procs] == [0] * workers, errors
        # One map per user, each with its plate and matte (layered publishing), and no second copy of any.
        assert len(maps_only(cloud.assets)) == args.users, len(maps_only(cloud.assets))
        assert len(cloud.assets) == 3 * args.users, len(cloud.assets)
    published = portal.status_counts()["published"]
    portal.close()
    assert published == args.users
    return args.users / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--latency", type=float, default=0.4, help="prediction latency (s)")
    ap.add_argument("--upload-latency", type=float, default=0.05, help="Cloudinary request latency (s)")
    ap.add_argument("--threads", type=int, default=4, help="threads per worker")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--smoke", action="store_true", help="a few users, two workers sharing the queue: seconds, for CI")
    args = ap.parse_args()
    if args.smoke:
        args.users, args.latency, args.upload_latency, args.threads, args.workers = 6, 0.02, 0.0, 2, "2"
    per_job = args.latency + args.upload_latency
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["DEPTHSTUDIO_DATA_DIR"] = str(tmp / "data")
        avatars = write_avatars(tmp / "avatars", 50, size=160)
        rows = []
        for w in (int(x) for x in args.workers.split(",")):
            rate = run(w, args, tmp, avatars)
            rows.append((w, rate))
    base = rows[0][1]
    print(
        f"users {args.users}, prediction {args.latency * 1000:.0f} ms + upload {args.upload_latency * 1000:.0f} ms, "
        f"{args.threads} threads per worker (process start included)"
    )
    print(f"{'workers':>7} {'jobs/s':>8} {'ideal':>8} {'ratio':>6} {'speed-up vs 1':>14}")
    for w, rate in rows:
        ideal = w * args.threads / per_job
        print(f"{w:>7} {rate:>8.1f} {ideal:>8.1f} {rate / ideal:>6.2f} {rate / base:>14.2f}")
    figures = [
        {"workers": w, "jobs_per_s": round(rate, 2), "ratio": round(rate / (w * args.threads / per_job), 3)}
        for w, rate in rows
    ]
    print(json.dumps({"users": args.users, "threads": args.threads, "rows": figures}))


if __name__ == "__main__":
    main()
