"""How soon a second studio hears of a decision: commit in one portal connection → the change feed's callback in
another, on SQLite (trigger-fed log, polled on PRAGMA data_version every 0.25 s) and PostgreSQL (LISTEN/NOTIFY).

Baselines measured in the same run: the decision's own write (``decide`` until its commit returns), and what a
studio without the feed would spend on every tick of a timer to find the same change (a re-read of the first
page of the list and the filter counts).

    python benchmarks/change_feed.py --decisions 20 [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
    python benchmarks/change_feed.py --smoke    # seconds: that it still runs (CI runs every --smoke)
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from depthstudio.portal.changes import ChangeFeed
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import record_result
from depthstudio.portal.reviews import Decision
from tests.helpers import make_portal, portal_config, tiny_result, write_avatars


def measure(url: str, tmp: Path, decisions: int) -> dict[str, float]:
    avatars = write_avatars(tmp / "avatars", decisions, size=32)
    make_portal(url, avatars)
    cfg = portal_config(url, tmp)
    studio_a, studio_b = Portal.open(cfg), Portal.open(cfg)
    for i, avatar in enumerate(avatars):
        record_result(studio_a, f"u{i:05d}", tiny_result(avatar))
    heard: queue.Queue = queue.Queue()
    feed = ChangeFeed(studio_b.engine, lambda users: heard.put((time.perf_counter(), users))).start()
    latencies, rereads, writes = [], [], []
    rng = random.Random(12)
    try:
        for i in range(decisions):
            uid = f"u{i:05d}"
            time.sleep(rng.uniform(0.0, 0.3))  # an editor's pace, out of step with the SQLite poll's ticks
            start = time.perf_counter()
            studio_a.decide([uid], Decision.APPROVED, reviewer="a")
            writes.append(time.perf_counter() - start)
            while True:
                when, users = heard.get(timeout=10)
                if users and uid in users:
                    break
            latencies.append(when - start)
            t0 = time.perf_counter()
            studio_b.list_users(limit=100)
            studio_b.status_counts()
            rereads.append(time.perf_counter() - t0)
    finally:
        feed.stop()
        studio_a.close()
        studio_b.close()
    return {"median_ms": statistics.median(latencies) * 1000, "max_ms": max(latencies) * 1000,
            "reread_ms": statistics.median(rereads) * 1000, "write_ms": statistics.median(writes) * 1000}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--smoke", action="store_true", help="three decisions per database, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.decisions = 3
    rows = []
    with tempfile.TemporaryDirectory() as d:
        rows.append(("sqlite", measure(f"sqlite:///{Path(d) / 'portal.sqlite3'}", Path(d) / "s", args.decisions)))
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        name = f"dsbench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            pg = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
            rows.append(("postgresql", measure(pg, Path(d) / "p", args.decisions)))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(f"{args.decisions} decisions each; time from the decision to the other studio's feed (medians)")
    print(
        f"{'database':>10} {'feed ms':>8} {'max ms':>7} {'write ms':>9} {'feed/write':>11} "
        f"{'re-read ms':>11} {'feed/2 s':>9}"
    )
    for db, r in rows:
        feed, write = r["median_ms"], r["write_ms"]
        print(f"{db:>10} {feed:>8.1f} {r['max_ms']:>7.1f} {write:>9.1f} {feed / write:>11.1f} "
              f"{r['reread_ms']:>11.1f} {feed / 2000:>9.3f}")  # fmt: skip
    print(json.dumps([{"db": db, **{k: round(v, 1) for k, v in r.items()}} for db, r in rows]))


if __name__ == "__main__":
    main()
