"""Bulk depth generation through the Replicate backend against the protocol server on 127.0.0.1.

N users go through one ``ReplicateBackend`` from a pool of C threads while every prediction takes L seconds
on the server. Prints the measured throughput against the ideal ``C / L`` (C perfectly overlapped waits) and
the HTTP requests per user by kind, which shows whether the waiting is done by polling or by the sync
(``Prefer: wait``) create; then the same for a polling-only baseline measured in the same run.

    python benchmarks/replicate_bulk.py                      # 2000 users, C=32, L=0.5 s (+ 300-user baseline)
    python benchmarks/replicate_bulk.py --users 200 --baseline-users 0 --latency 0.2
    python benchmarks/replicate_bulk.py --smoke              # seconds: that it still runs (CI runs every --smoke)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from depthstudio.depth.replicate import ReplicateBackend, ReplicateOptions
from depthstudio.errors import BackendError
from depthstudio.imaging.types import Avatar, CropBox
from tests.servers.replicate_server import ReplicateServer

SAMPLES = REPO / "resources" / "demo" / "avatars"


def sample_avatars(crop: int) -> list[tuple[Image.Image, Image.Image, CropBox, str]]:
    out = []
    for path in sorted(SAMPLES.glob("*.[pj][np]g")):
        with Image.open(path) as img:
            original = img.convert("RGB")
        w, h = original.size
        side = min(w, h)
        box = CropBox((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
        image = original.crop((box.left, box.top, box.right, box.bottom)).resize((crop, crop))
        out.append((original, image, box, hashlib.sha256(path.read_bytes()).hexdigest()))
    return out


@dataclass
class Result:
    wall: float
    cpu: float
    durations: list[float]
    counts: dict[str, int]
    failures: dict[str, int]

    @property
    def throughput(self) -> float:
        return len(self.durations) / self.wall


def run(avatars: list[Avatar], concurrency: int, latency: float, sync_wait: int) -> Result:
    """One bulk run on a fresh server; returns its figures."""
    with ReplicateServer() as server:
        server.faults.latency_s = latency
        backend = ReplicateBackend(
            server.token,
            base_url=server.url,
            options=ReplicateOptions(sync_wait_s=sync_wait, max_connections=concurrency),
        )
        durations: list[float] = []
        failures: dict[str, int] = {}
        lock = threading.Lock()

        def one(avatar: Avatar) -> None:
            t0 = time.perf_counter()
            try:
                backend.predict(avatar)
            except BackendError as err:
                with lock:
                    failures[err.kind] = failures.get(err.kind, 0) + 1
            with lock:
                durations.append(time.perf_counter() - t0)

        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, avatars))
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        backend.close()
        counts = dict(server.counts)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return Result(wall, cpu, durations, counts, failures)


def report(title: str, users: int, concurrency: int, latency: float, r: Result) -> None:
    ideal = concurrency / latency
    durations, counts = r.durations, r.counts
    print(f"== {title}: {users} users")
    print(f"wall {r.wall:.2f} s; CPU (client + server, one process) {r.cpu:.1f} s")
    print(f"throughput {r.throughput:.1f} users/s; ideal C/L {ideal:.1f} users/s; ratio {r.throughput / ideal:.3f}")
    p95 = statistics.quantiles(durations, n=20)[18]
    print(f"per-user time: median {statistics.median(durations):.3f} s, p95 {p95:.3f} s (L = {latency:g} s)")
    print("HTTP requests per user: " + ", ".join(f"{k} {v / users:.2f}" for k, v in sorted(counts.items())))
    print(f"HTTP requests per user, total: {sum(counts.values()) / users:.2f}")
    print(f"failures: {r.failures or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32, help="worker threads (C)")
    ap.add_argument("--latency", type=float, default=0.5, help="seconds per prediction on the server (L)")
    ap.add_argument("--sync-wait", type=int, default=ReplicateOptions().sync_wait_s, help="Prefer: wait=N; 0=off")
    ap.add_argument("--baseline-users", type=int, default=300, help="users for the polling baseline; 0 = skip")
    ap.add_argument("--crop", type=int, default=128, help="side of the square crop sent as a data URI")
    ap.add_argument("--smoke", action="store_true", help="a few dozen users at a short latency, for CI")
    args = ap.parse_args()
    if args.smoke:
        args.users, args.baseline_users, args.concurrency, args.latency = 40, 20, 8, 0.05

    samples = sample_avatars(args.crop)
    avatars = [
        Avatar(source=f"/portal/avatars/user{i}.png", sha256=sha, original=orig, image=img, crop=box)
        for i in range(max(args.users, args.baseline_users))
        for orig, img, box, sha in [samples[i % len(samples)]]
    ]
    c, lat = args.concurrency, args.latency
    print(f"concurrency C={c}, prediction latency L={lat:g} s, crop {args.crop} px sent as a data URI")
    main_run = run(avatars[: args.users], c, lat, args.sync_wait)
    report(f"backend as configured (Prefer: wait={args.sync_wait})", args.users, c, lat, main_run)
    if args.baseline_users:
        base = run(avatars[: args.baseline_users], c, lat, 0)
        report("baseline: no sync wait, polling only", args.baseline_users, c, lat, base)
        ratio = main_run.throughput / base.throughput
        print(f"== throughput as configured / polling baseline: {ratio:.2f}x")
    failed = {**main_run.failures, **(base.failures if args.baseline_users else {})}
    if failed:
        raise SystemExit(f"predictions failed: {failed}")  # a benchmark of failing predictions measures nothing
    figures = {"users": args.users, "concurrency": c, "latency_s": lat, "users_per_s": round(main_run.throughput, 2)}
    figures["ratio_to_ideal"] = round(main_run.throughput / (c / lat), 3)
    if args.baseline_users:
        figures["ratio_to_polling"] = round(main_run.throughput / base.throughput, 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
