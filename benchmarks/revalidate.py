"""Users re-validated per second: ``revalidate`` over a portal where every user has a map, against a photo host on
127.0.0.1 that answers conditional GETs (tests/servers/photo_server.py), 100 KB photos.

Baseline measured in the same run on the same host and portal: the first pass, which has no validators yet and so
re-fetches every photo and hashes it (what a host without ETag/Last-Modified costs every night). The figure is the
second pass: conditional requests answered 304. Both passes run without the rate cap (``fetch.revalidate_per_s = 0``)
to show the capacity under it; the cap's default is printed beside them.

    python benchmarks/revalidate.py [--users 100000] [--threads 8] [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert

from depthstudio.config import FetchConfig
from depthstudio.imaging import validators
from depthstudio.jobs.photo_check import revalidate
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import results, user_state
from tests.helpers import make_portal, portal_config
from tests.servers.photo_server import PhotoServer


def seed(url: str, tmp: Path, host: PhotoServer, users: int, photo: bytes) -> Portal:
    """``users`` portal rows, each with a current result of its photo (rows written in bulk: setup, not measured)."""
    base = host.put("/p/0.png", photo, modified=1_700_000_000).rsplit("/", 1)[0]
    for i in range(1, users):
        host.photos[f"/p/{i}.png"] = (photo, 1_700_000_000)
    make_portal(url, [f"{base}/{i}.png" for i in range(users)])
    cfg = portal_config(url, tmp)
    cfg.fetch.revalidate_per_s = 0
    portal = Portal.open(cfg)
    digest, now = hashlib.sha256(photo).hexdigest(), dt.datetime(2026, 1, 1)
    with portal.engine.begin() as conn:
        for start in range(0, users, 5000):
            ids = range(start, min(users, start + 5000))
            conn.execute(
                insert(results),
                [
                    {
                        "id": i + 1,
                        "user_id": f"u{i:05d}",
                        "avatar_url": f"{base}/{i}.png",
                        "avatar_sha256": digest,
                        "backend": "synthetic",
                        "model": "bench",
                        "width": 64,
                        "height": 64,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(user_state), [{"user_id": f"u{i:05d}", "result_id": i + 1, "updated_at": now} for i in ids]
            )
    return portal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--smoke", action="store_true", help="2,000 users: checks the script, not the figure")
    args = ap.parse_args()
    users = 2_000 if args.smoke else args.users
    photo = bytes(range(256)) * 400  # 100 KB
    with tempfile.TemporaryDirectory() as tmp, PhotoServer().serving() as host:
        portal = seed(f"sqlite:///{tmp}/portal.sqlite3", Path(tmp), host, users, photo)
        validators.seen.clear()  # a cron run is a new process: nothing seen yet
        refetch = revalidate(portal, portal.config, threads=args.threads)
        portal.config.fetch.revalidate_after_s = 0
        conditional = revalidate(portal, portal.config, threads=args.threads)
        statuses = {r.status for r in host.requests[-users:]}
        portal.close()
    assert refetch.checked == conditional.checked == users and statuses == {304}, (refetch, conditional, statuses)
    figures = {
        "users": users,
        "threads": args.threads,
        "refetch_per_s": round(refetch.rate, 1),
        "conditional_per_s": round(conditional.rate, 1),
        "ratio_conditional_vs_refetch": round(conditional.rate / refetch.rate, 2),
        "default_cap_per_s": FetchConfig().revalidate_per_s,
        "conditional_s_for_100k_at_cap": round(100_000 / min(conditional.rate, FetchConfig().revalidate_per_s)),
    }
    print(f"re-fetch pass: {refetch.checked} users in {refetch.elapsed_s:.1f}s ({refetch.rate:.0f}/s)")
    print(f"conditional pass: {conditional.checked} users in {conditional.elapsed_s:.1f}s ({conditional.rate:.0f}/s)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
