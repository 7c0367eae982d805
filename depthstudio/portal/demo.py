"""The embedded demo portal: a SQLite database shaped like the real portal's Prisma ``User`` table.

It holds the four public-domain/CC0 sample avatars plus generated placeholder users, so the studio shows
something real on first start without any account or network. Hand-authored demo depth maps (see
resources/demo/depth/README.md) are seeded as results labelled ``hand-authored``, never as model output.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, Text, create_engine, insert

from depthstudio.config import data_dir
from depthstudio.resources import resource, resources_dir

SAMPLES = {
    "astronaut.png": "Eileen Collins",
    "grace_hopper.jpg": "Grace Hopper",
    "camera.png": "Cameraman (CC0)",
    "chelsea.png": "Chelsea the Cat",
}
PLACEHOLDER_COUNT = 36
HAND_AUTHORED = "hand-authored"  # the backend recorded for the sample maps: drawn by hand, not a model's output
_FIRST = [
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "Hedy",
    "Ivan",
    "Joan",
    "Ken",
    "Lynn",
    "Margaret",
    "Niklaus",
    "Radia",
    "Sophie",
    "Tim",
]
_LAST = [
    "Almeida",
    "Berg",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Huang",
    "Ibrahim",
    "Jansen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
]


def portal_users_table(metadata: MetaData) -> Table:
    """The Prisma ``User`` model's columns as Prisma lays them out in SQLite (text cuid ids, camelCase)."""
    return Table(
        "User",
        metadata,
        Column("id", String(32), primary_key=True),
        Column("name", Text),
        Column("email", Text),
        Column("avatar", Text),
        Column("avatarDepthMap", Text),
        Column("createdAt", DateTime),
    )


def placeholder_avatar(seed: int, size: int = 384) -> Image.Image:
    """A flat-shaded head-and-shoulders figure: obviously synthetic, but portrait-shaped like real avatars."""
    rng = random.Random(seed)
    bg = tuple(rng.randint(150, 235) for _ in range(3))
    skin = rng.choice([(241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172)])
    shirt = tuple(rng.randint(20, 160) for _ in range(3))
    hair = rng.choice([(40, 30, 20), (90, 60, 30), (200, 170, 90), (20, 20, 20), (150, 80, 40)])
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    s = size / 384
    d.ellipse([60 * s, 270 * s, 324 * s, 520 * s], fill=shirt)
    d.rectangle([165 * s, 220 * s, 219 * s, 290 * s], fill=skin)
    d.ellipse([112 * s, 70 * s, 272 * s, 250 * s], fill=hair)
    d.ellipse([122 * s, 95 * s, 262 * s, 262 * s], fill=skin)
    for ex in (160, 224):
        d.ellipse([(ex - 9) * s, 160 * s, (ex + 9) * s, 174 * s], fill=(40, 40, 40))
    d.arc([165 * s, 195 * s, 219 * s, 230 * s], 20, 160, fill=(120, 50, 50), width=max(1, int(3 * s)))
    return img.filter(ImageFilter.GaussianBlur(0.8))


def _cuid(seed: str) -> str:
    return "c" + hashlib.sha1(seed.encode()).hexdigest()[:24]


def ensure_demo_portal(path: Path) -> bool:
    """Create the demo portal once; returns True when it was created now."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    avatars = data_dir() / "demo-avatars"
    avatars.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".creating")
    tmp.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{tmp}")
    try:
        _create(engine, avatars)
    finally:
        engine.dispose()
    tmp.replace(path)  # atomic: a crash mid-creation never leaves a half-made portal behind
    return True


def _create(engine: Engine, avatars: Path) -> None:
    import datetime as dt

    md = MetaData()
    table = portal_users_table(md)
    md.create_all(engine)
    rows = []
    t0 = dt.datetime(2026, 1, 5, 9, 0)
    for i, (file, name) in enumerate(SAMPLES.items()):
        src = resource("resources", "demo", "avatars", file)  # a broken install fails here, naming the file
        dst = avatars / file
        shutil.copyfile(src, dst)
        rows.append(
            {
                "id": _cuid(file),
                "name": name,
                "email": f"{file.split('.')[0]}@example.org",
                "avatar": dst.as_uri(),
                "avatarDepthMap": None,
                "createdAt": t0 + dt.timedelta(days=i),
            }
        )
    rng = random.Random(7)
    for i in range(PLACEHOLDER_COUNT):
        file = avatars / f"placeholder-{i:02d}.png"
        placeholder_avatar(i).save(file)
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        rows.append(
            {
                "id": _cuid(f"placeholder-{i}"),
                "name": name,
                "email": f"user{i}@example.org",
                "avatar": file.as_uri(),
                "avatarDepthMap": None,
                "createdAt": t0 + dt.timedelta(days=10 + i),
            }
        )
    rows.append(
        {
            "id": _cuid("no-photo"),
            "name": "Nobody Yet (no photo)",
            "email": "nophoto@example.org",
            "avatar": None,
            "avatarDepthMap": None,
            "createdAt": t0 + dt.timedelta(days=60),
        }
    )
    with engine.begin() as conn:
        conn.execute(insert(table), rows)


def hand_authored_depth(stem: str) -> np.ndarray | None:
    """The hand-authored approximation for a sample avatar, if one ships, as float32 in [0, 1]."""
    path = resources_dir() / "demo" / "depth" / f"{stem}.png"
    if not path.exists():
        return None
    with Image.open(path) as img:
        arr = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return arr
