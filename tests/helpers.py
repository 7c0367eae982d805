"""Building portals for tests: a Prisma-shaped ``User`` table in any database, filled with real image files."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import MetaData, create_engine, insert, text, update

from depthstudio.config import Config, PortalConfig
from depthstudio.depth.postprocess import encode_png, normalise
from depthstudio.depth.synthetic import SyntheticBackend, portrait_prior
from depthstudio.portal.demo import placeholder_avatar, portal_users_table
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import NewResult
from depthstudio.studio import photos


def write_avatars(folder: Path, count: int, *, size: int = 96) -> list[str]:
    """Small distinct portrait-like PNGs; returns their file:// URLs (what a portal column would hold)."""
    folder.mkdir(parents=True, exist_ok=True)
    urls = []
    for i in range(count):
        path = folder / f"avatar-{i:05d}.png"
        placeholder_avatar(i, size=size).save(path)
        urls.append(path.as_uri())
    return urls


def make_portal(url: str, avatars: list[str | None], *, names: list[str] | None = None) -> None:
    engine = create_engine(url)
    md = MetaData()
    table = portal_users_table(md)
    md.create_all(engine)
    rows = [
        {
            "id": f"u{i:05d}",
            "name": (names[i] if names else f"User {i:05d}"),
            "email": f"u{i}@example.org",
            "avatar": a,
            "avatarDepthMap": None,
        }
        for i, a in enumerate(avatars)
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(table), rows[start : start + 1000])
    engine.dispose()


def set_avatar(url: str, user_id: str, avatar: str | None) -> None:
    """What the portal does on a new upload: new avatar, depth map cleared."""
    engine = create_engine(url)
    table = portal_users_table(MetaData())
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == user_id).values(avatar=avatar, avatarDepthMap=None))
    engine.dispose()


def portal_config(url: str, tmp_path: Path, **job: object) -> Config:
    cfg = Config(portal=PortalConfig(url=url))
    cfg.storage.local_dir = str(tmp_path / "store")
    cfg.fetch.allow_private = True
    cfg.fetch.allow_local_paths = True  # the test avatars are files; the refusal has its own tests
    cfg.fetch.crop_size = 64
    cfg.job.backoff_s = 0.0
    for key, value in job.items():
        setattr(cfg.job, key, value)
    return cfg


def maps_only(names: Iterable[object]) -> list[str]:
    """The depth maps among stored asset names or paths, without the layered mode's -plate/-matte beside them."""
    return [str(n) for n in names if not str(n).removesuffix(".png").endswith(("-plate", "-matte"))]


def tiny_png(path: Path, color: tuple[int, int, int] = (200, 100, 50)) -> str:
    Image.new("RGB", (32, 32), color).save(path)
    return path.as_uri()


def tiny_result(avatar: str, *, qa_risk: float = 0.1) -> NewResult:
    """A result row's worth of data without running a backend (for queue and status tests)."""
    return NewResult(avatar_url=avatar, avatar_sha256="ab" * 32, backend="synthetic", model="m", width=4, height=4,
                     png8=b"png8", qa={"flat": 0.0}, qa_risk=qa_risk)  # fmt: skip


def seed_every_status(url: str, tmp_path: Path) -> tuple[Portal, list[str | None]]:
    """Ten users, ``u00000``..``u00009``, one in each status, in the order of ``Status`` (the avatars returned)."""
    avatars: list[str | None] = [f"https://img.example/{i}.png" for i in range(9)] + [None]
    make_portal(url, avatars)
    portal = Portal.open(portal_config(url, tmp_path))
    q = JobQueue(portal)
    # u1 queued, u2 running, u3 failed, u4 generated, u5 approved, u6 rejected, u7 stale, u8 published elsewhere
    q.enqueue([(f"u{i:05d}", str(avatars[i])) for i in range(1, 8)], max_attempts=1)
    claimed = {}
    while (job := q.claim("w")) is not None:
        claimed[job.user_id] = job
    q.release(claimed.pop("u00001"))  # back to queued
    q.fail(claimed.pop("u00003"), kind="not_an_image", message="the file is HTML", retry_in=None)
    for uid in ("u00004", "u00005", "u00006", "u00007"):
        assert q.complete(claimed.pop(uid), tiny_result(str(avatars[int(uid[1:])]))) is not None
    portal.decide(["u00005"], "approved", reviewer="ed")
    portal.decide(["u00006"], "rejected", reviewer="ed", note="halo around the hair")
    set_avatar(url, "u00007", "https://img.example/new.png")
    with portal.engine.begin() as conn:
        conn.execute(text("UPDATE \"User\" SET \"avatarDepthMap\" = 'https://cdn/x.png' WHERE id = 'u00008'"))
    return portal, avatars


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll a gate's condition (another thread reached a point), failing with ``what`` instead of hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def seed_result(
    portal: Portal,
    user_id: str,
    *,
    backend: str = "synthetic",
    model: str = SyntheticBackend.model,
    qa_risk: float = 0.1,
    depth: np.ndarray | None = None,
    crop: int = 128,
    qa: dict | None = None,
) -> int:
    """A finished depth result for a user, recorded through the job queue like the runner's, without the fetch.

    ``depth`` (float in [0, 1]) defaults to the synthetic backend's portrait prior for the user's photo.
    """
    row = portal.get_user(user_id)
    assert row is not None and row.avatar
    if depth is None:
        gray = (
            np.asarray(
                photos.framed_photo(row.avatar, crop, crop, portal.config.fetch.policy()).convert("L"), dtype=np.float32
            )
            / 255.0
        )
        depth = normalise(portrait_prior(gray))
    queue = JobQueue(portal)
    queue.enqueue([(row.id, row.avatar)])
    job = queue.claim("test")
    assert job is not None and job.user_id == row.id
    result_id = queue.complete(
        job,
        NewResult(
            avatar_url=row.avatar,
            avatar_sha256="0" * 64,
            backend=backend,
            model=model,
            width=depth.shape[1],
            height=depth.shape[0],
            png8=encode_png(depth, 8),
            qa_risk=qa_risk,
            qa=qa,
        ),
    )
    assert result_id is not None
    return result_id
