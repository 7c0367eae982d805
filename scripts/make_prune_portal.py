"""Build a portal for ``depthstudio prune``: N users with three results each, as a busy portal accumulates them.

Each user's three results carry real depth PNGs (8- and 16-bit, as depthstudio stored them before it stopped
keeping the 16-bit map in the database), made by the synthetic backend from a few placeholder portraits at the
default 512 px crop. The oldest result of every other user is the one the portal shows (published); the newest
is the current one, approved. Then, for example:

    .venv/bin/python scripts/make_prune_portal.py /tmp/prune.sqlite3 --users 1000
    depthstudio --portal-url sqlite:////tmp/prune.sqlite3 prune --dry-run
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

from sqlalchemy import MetaData, create_engine, insert, update

from depthstudio.config import Config, PortalConfig
from depthstudio.depth.postprocess import make_depth_map
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.imaging import FetchPolicy, load_avatar
from depthstudio.portal.demo import placeholder_avatar, portal_users_table
from depthstudio.portal.repository import Portal
from depthstudio.portal.reviews import Decision
from depthstudio.portal.tables import result_blobs, results, reviews, user_state

_VARIANTS = 8  # distinct maps to share out; every row still stores its own bytes


def _maps(folder: Path) -> list[tuple[str, bytes]]:
    folder.mkdir(parents=True, exist_ok=True)
    backend, out = SyntheticBackend(), []
    for i in range(_VARIANTS):
        path = folder / f"avatar-{i}.png"
        placeholder_avatar(i, size=640).save(path)
        avatar = load_avatar(str(path), FetchPolicy(allow_local_paths=True))
        dm = make_depth_map(backend.predict(avatar), avatar)
        out.append((avatar.sha256, dm.png8))
    return out


def build(url: str, users: int, folder: Path) -> None:
    avatars = [f"https://cdn.example.org/avatars/u{i:05d}.jpg" for i in range(users)]
    engine = create_engine(url)
    md = MetaData()
    table = portal_users_table(md)  # the portal's Prisma-shaped User table, as the demo portal has it
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(table), [{"id": f"u{i:05d}", "name": f"User {i:05d}", "avatar": a} for i, a in enumerate(avatars)]
        )
    engine.dispose()
    portal = Portal.open(Config(portal=PortalConfig(url=url)))
    maps = _maps(folder)
    now = dt.datetime(2026, 1, 1)
    u = portal.users
    with portal.engine.begin() as conn:
        for i, avatar in enumerate(avatars):
            uid = f"u{i:05d}"
            ids = []
            for k in range(3):
                sha, png8 = maps[(i + k) % _VARIANTS]
                published = f"https://res.example.org/depth/{uid}-{k}.png" if (k == 0 and i % 2 == 0) else None
                rid = conn.execute(
                    insert(results)
                    .values(
                        user_id=uid, job_id=None, avatar_url=avatar, avatar_sha256=sha, backend="synthetic",
                        model=SyntheticBackend.model, width=512, height=512, qa_risk=0.1,
                        created_at=now + dt.timedelta(days=k), published_url=published,
                        published_location=published, published_at=now if published else None,
                    )
                    .returning(results.c.id)
                ).scalar_one()  # fmt: skip
                conn.execute(insert(result_blobs).values(result_id=rid, png8=png8))
                if published:
                    conn.execute(update(u.table).where(u.id == uid).values({u.depth.name: published}))
                ids.append(rid)
            review = conn.execute(
                insert(reviews)
                .values(result_id=ids[-1], user_id=uid, decision=Decision.APPROVED, reviewer="ed", created_at=now)
                .returning(reviews.c.id)
            ).scalar_one()
            conn.execute(insert(user_state).values(user_id=uid, result_id=ids[-1], review_id=review, updated_at=now))
    portal.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a SQLite file to create, or a database URL (an empty database)")
    parser.add_argument("--users", type=int, default=1000)
    args = parser.parse_args()
    url = args.target if "://" in args.target else f"sqlite:///{Path(args.target).resolve()}"
    if url.startswith("sqlite:///") and Path(url.removeprefix("sqlite:///")).exists():
        print(f"{args.target} exists; give a new file", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as photos:  # the placeholder portraits the maps are made from
        build(url, args.users, Path(photos))
    print(f"built {args.users} users x 3 results in {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
