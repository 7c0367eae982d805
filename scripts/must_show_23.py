#!/usr/bin/env python3
"""Issue 23's "must show", end to end, as a user installs and runs depthstudio.

1. Build the wheel from this checkout and install it into a fresh virtualenv under a temporary folder, with a fresh
   HOME (third-party dependencies are layered from the interpreter running this script: there is no network).
2. A PostgreSQL portal (a new database on ``$DEPTHSTUDIO_TEST_PG``, dropped at the end) with a Prisma-style
   ``"User"`` table holding a portrait, a landscape and an EXIF-rotated photo, served over HTTP from 127.0.0.1.
3. The installed ``depthstudio`` generates their maps with the local backend (the real Depth-Anything-V2-Small
   architecture, reduced, random weights, run by torch), publishes them to a local store served by the same
   server, and ``export-web``\\s them for the target ``[web] target`` (default: react-depth-map 1.0.9 as published).
4. Checks each published map has the displayed photo's shape (EXIF orientation applied).
5. Draws, in Debian's headless Chromium, the exported page (our viewer, file://) and the real react-depth-map from
   npm mounted with the portal's own column values (``avatar``, ``avatarDepthMap``) at the same box width and
   pointer, and prints the largest difference per user. ``--sheet`` writes them side by side (exported | real).

Run from the checkout with its virtualenv:
``.venv/bin/python scripts/must_show_23.py --sheet docs/screenshots/must-show-23.png``
The last line is one JSON object (shapes and differences); the exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import real_component  # noqa: E402  the reference harness lives with the tests
from tests.chromium import Chromium, executable  # noqa: E402

SAMPLES = REPO / "resources" / "demo" / "avatars"
PG_ADMIN_URL = os.environ.get("DEPTHSTUDIO_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Prisma's DDL for `model User { id String @id; name String?; avatar String?; avatarDepthMap String? }`.
PRISMA_USER = (
    'CREATE TABLE "User" ("id" TEXT NOT NULL, "name" TEXT, "avatar" TEXT, "avatarDepthMap" TEXT, '
    'CONSTRAINT "User_pkey" PRIMARY KEY ("id"))'
)
VIEWPORT = (1000, 800)
CENTRE = (VIEWPORT[0] // 2, VIEWPORT[1] // 2)  # mouse 0: the photo as it is
POINTER = (60, 720)  # a deflection towards the lower left; the component eases STEPS frames towards it
STEPS = 40
OVER = 2  # the budget: within 2/255, except a lookup on a depth edge (0.1 % of pixels)
MAX_FRACTION_OVER = 0.001


def say(text: str) -> None:
    print(text, flush=True)


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd[:4]))} ... failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


# --- 1. the wheel, installed -------------------------------------------------------------------------------------


def fresh_env(home: Path) -> dict[str, str]:
    """No setting of this shell's depthstudio, no keyring, no network for models, a HOME of its own."""
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPTHSTUDIO_", "PYTHON", "XDG_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", HF_HUB_OFFLINE="1")
    return env


def from_checkout(tmp: Path) -> tuple[list[str], dict[str, str]]:
    """The checkout's depthstudio run by this interpreter (the suite's quick variant: no wheel build)."""
    env = fresh_env(tmp / "home")
    env["PYTHONPATH"] = str(REPO)
    return [sys.executable, "-m", "depthstudio"], env


def install_wheel(tmp: Path) -> tuple[list[str], dict[str, str]]:
    """A fresh virtualenv holding the wheel built from this checkout's files (tracked or new, not ignored)."""
    listed = run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"]).stdout.split("\0")
    source = tmp / "source"
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(tmp / "dist"), str(source)])
    (wheel,) = (tmp / "dist").glob("depthstudio-*.whl")
    root = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    (site_dir,) = (root / "lib").glob("python3*/site-packages")
    layered = [*site.getsitepackages(), *(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))]
    layered = [d for d in dict.fromkeys(layered) if Path(d).is_dir() and not (Path(d) / "depthstudio").exists()]
    (site_dir / "_layered_dependencies.pth").write_text("\n".join(layered) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q"]
    run([*pip, "--no-deps", "--no-index", "--ignore-installed", str(wheel)])
    env = fresh_env(tmp / "home")
    where = run([str(root / "bin" / "python"), "-c", "import depthstudio; print(depthstudio.__file__)"], env=env,
                cwd=tmp / "home").stdout.strip()  # fmt: skip
    if not where.startswith(str(root)):
        raise SystemExit(f"depthstudio came from {where}, not from the installed wheel")
    say(f"installed {wheel.name} into {root}")
    return [str(root / "bin" / "depthstudio")], env


# --- 2. the portal ---------------------------------------------------------------------------------------------


def write_photos(folder: Path) -> dict[str, str]:
    """user id -> file name: a portrait, a landscape, and a landscape photo stored on its side (EXIF 6)."""
    folder.mkdir(parents=True)
    shutil.copy(SAMPLES / "grace_hopper.jpg", folder / "portrait.jpg")  # 512x600
    shutil.copy(SAMPLES / "chelsea.png", folder / "landscape.png")  # 451x300
    with Image.open(SAMPLES / "astronaut.png") as img:
        upright = img.convert("RGB")
    upright = upright.crop((0, 64, upright.width, upright.height - 64))  # landscape, so the rotation shows
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer rotates it 90° clockwise: stored rotated the other way, as a phone writes it
    upright.transpose(Image.Transpose.ROTATE_90).save(folder / "rotated.jpg", quality=95, exif=exif)
    return {"u-portrait": "portrait.jpg", "u-landscape": "landscape.png", "u-rotated": "rotated.jpg"}


@contextmanager
def portal_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"dsmust_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fill_portal(url: str, base: str, photos: dict[str, str]) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(PRISMA_USER))
        for uid, name in photos.items():
            conn.execute(text('INSERT INTO "User" (id, name, avatar) VALUES (:i, :n, :a)'),
                         {"i": uid, "n": name, "a": f"{base}/img/{name}"})  # fmt: skip
    engine.dispose()


def portal_rows(url: str) -> dict[str, tuple[str, str | None]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text('SELECT id, avatar, "avatarDepthMap" FROM "User" ORDER BY id')).all()
    engine.dispose()
    return {r[0]: (r[1], r[2]) for r in rows}


@contextmanager
def serve(photos: Path, store: Path) -> Iterator[str]:
    """One origin for the photos (/img/), the published maps (/maps/) and the real component's page (/rdm/)."""
    routes = {"/rdm/": real_component.install(), "/img/": photos, "/maps/": store}
    handler = type("Handler", (real_component._Handler,), {"routes": routes})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(REPO)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def write_config(path: Path, url: str, model: Path, store: Path, base: str, component: str) -> None:
    path.write_text(
        f"""[portal]
url = "{url}"

[studio]
review_required = false

[depth]
backend = "local"
local_runtime = "torch"
local_weights_dir = "{model}"
device = "cpu"

[storage]
kind = "local"
local_dir = "{store}"
local_public_base_url = "{base}/maps"

[fetch]
allow_private = true

[web]
target = "{component}"
display_crop = "none"
"""
    )


# --- 5. drawing ----------------------------------------------------------------------------------------------------


class ExportedPage:
    """The exported index.html open in Debian's headless Chromium (file://, as a web developer opens it)."""

    def __init__(self, index_html: Path) -> None:
        self.browser = Chromium(executable())
        self.page = self.browser.page(*VIEWPORT)
        self.page.goto(index_html.as_uri())
        self.modes = dict(zip(self.page.eval("userIds"), self.page.eval("window.previewReady"), strict=True))

    def box_width(self, uid: str) -> float:
        if self.modes[uid] != "webgl":
            raise SystemExit(f"the exported page shows {uid} as {self.modes[uid]}: {self.page.console()}")
        i = self.page.eval("userIds").index(uid)
        return self.page.eval(f"viewers[{i}].canvas.parentElement.getBoundingClientRect().width")

    def frame(self, uid: str, mouse: tuple[float, float]) -> np.ndarray:
        """The user's canvas drawn at exactly this (eased) mouse value, RGBA, top row first."""
        i = self.page.eval("userIds").index(uid)
        frame = self.page.eval(
            f"(() => {{ const v = viewers[{i}]; v.renderAt({mouse[0]}, {mouse[1]}); const p = v.pixels(); let s = '';"
            " for (let k = 0; k < p.data.length; k += 0x8000)"
            " s += String.fromCharCode(...p.data.subarray(k, k + 0x8000));"
            " return {w: p.width, h: p.height, data: btoa(s)}; })()"
        )
        return np.frombuffer(base64.b64decode(frame["data"]), np.uint8).reshape(frame["h"], frame["w"], 4)

    def close(self, screenshot: Path | None = None) -> None:
        if screenshot is not None:
            self.page.screenshot(screenshot)
        self.page.close()
        self.browser.close()


def diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    d = np.abs(a[..., :3].astype(np.int16) - b[..., :3].astype(np.int16)).max(axis=2)
    return int(d.max()), float((d > OVER).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="react-depth-map", choices=["react-depth-map", "react-depth-map-fork"])
    parser.add_argument("--sheet", type=Path, help="write the exported page (left) beside the real component")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--from-checkout", action="store_true", help="run this checkout's depthstudio, no wheel")
    args = parser.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="must-show-23-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        return show(tmp, args.target, args.sheet, wheel=not args.from_checkout)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def show(tmp: Path, component: str, sheet: Path | None, *, wheel: bool = True) -> int:
    from depthstudio.depth.torch_backend import DA_V2_SMALL, LocalBackend

    depthstudio, env = install_wheel(tmp) if wheel else from_checkout(tmp)
    # The real Depth-Anything-V2-Small architecture (reduced), random weights, saved as a transformers folder: the
    # product feeds the model the whole photo (non-square), which tests/onnx_model.py's export (a fixed 518x518
    # input) cannot take; the published ONNX export takes any size.
    # Random weights give outputs near 1e-7, which the normalisation's guard rightly makes a flat (black) map; the
    # head's last convolution scaled by 1e7 gives a map with structure (random, not the photo's), so a misaligned
    # or mis-sampled map would show between the exported page and the real component.
    import torch

    model = tmp / "weights"
    backend = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu")
    with torch.no_grad():
        backend.network.head.conv3.weight.mul_(1e7)
        backend.network.head.conv3.bias.mul_(1e7)
    backend.save_pretrained(model)
    say(f"random-weight Depth-Anything-V2-Small (reduced) saved to {model}")
    photos_dir, store = tmp / "photos", tmp / "store"
    photos = write_photos(photos_dir)
    store.mkdir()
    ok = True
    report: dict[str, Any] = {"target": component, "users": {}}
    with portal_database() as url, serve(photos_dir, store) as base:
        fill_portal(url, base, photos)
        cfg = tmp / "depthstudio.toml"
        write_config(cfg, url, model, store, base, component)

        def cli(*argv: str) -> str:
            return run([*depthstudio, "--config", str(cfg), *argv], env=env, cwd=tmp, timeout=600).stdout

        cli("db", "upgrade")
        say(cli("generate-missing", "--backend", "local", "--publish", "--no-progress").strip())
        cli("export-web", "--all", "-o", str(tmp / "web"))
        rows = portal_rows(url)

        # 4. shapes: the published map against the photo as displayed (EXIF orientation applied)
        for uid, name in photos.items():
            depth_url = rows[uid][1]
            with Image.open(photos_dir / name) as raw:
                stored = raw.size
                shown = ImageOps.exif_transpose(raw).size
            entry: dict[str, Any] = {"stored": list(stored), "displayed": list(shown)}
            if depth_url is None:
                say(f"{uid}: NOT PUBLISHED")
                ok = False
                report["users"][uid] = entry
                continue
            with Image.open(store / depth_url.removeprefix(f"{base}/maps/")) as published:
                entry["map"] = list(published.size)
            with Image.open(tmp / "web" / "users" / uid / "depth.png") as exported:
                entry["exported_map"] = list(exported.size)
            mw, mh = entry["map"]
            same_aspect = abs(mw * shown[1] - mh * shown[0]) <= (shown[0] + shown[1]) / 2
            entry["aspect_ok"] = same_aspect and entry["exported_map"] == entry["map"]
            ok &= entry["aspect_ok"]
            say(f"{uid}: photo stored {stored[0]}x{stored[1]}, displayed {shown[0]}x{shown[1]}; "
                f"published map {mw}x{mh}, exported map {entry['exported_map'][0]}x{entry['exported_map'][1]}: "
                + ("the photo's shape" if entry["aspect_ok"] else "WRONG SHAPE"))  # fmt: skip
            report["users"][uid] = entry

        # 5. the real component with the portal's column values, in a box as wide as the exported page's
        published = [uid for uid in photos if rows[uid][1]]
        page = ExportedPage(tmp / "web" / "index.html")
        try:
            widths = {uid: page.box_width(uid) for uid in published}
            jobs = []
            for uid in published:
                props = json.loads((tmp / "web" / "users" / uid / "params.json").read_text())
                props.update(originalImg=rows[uid][0], depthImg=rows[uid][1])
                jobs.append({"component": component, "props": props, "width": widths[uid], "scale": 1.0,
                             "pointers": [CENTRE, POINTER], "steps": STEPS, "viewerProps": None})  # fmt: skip
            drawn = dict(zip(published, real_component.draw(base, jobs, VIEWPORT), strict=True))
            real = {uid: r["frames"][1]["real"] for uid, r in drawn.items()}
            mouse = {uid: tuple(f.info["mouse"]) for uid, f in real.items()}
            ours = {uid: page.frame(uid, mouse[uid]) for uid in published}
        finally:
            page.close(tmp / "web" / "page.png")
        tiles = []
        for uid in published:
            width, mine = widths[uid], ours[uid]
            theirs = real[uid].rgba
            entry = report["users"][uid]
            entry.update(box_width=width, mouse=[round(m, 4) for m in mouse[uid]])
            if mine.shape != theirs.shape:
                say(f"{uid}: canvas {mine.shape[1]}x{mine.shape[0]} exported vs {theirs.shape[1]}x{theirs.shape[0]}")
                entry["max_diff"] = None
                ok = False
                continue
            worst, over = diff(mine, theirs)
            moved, _ = diff(theirs, drawn[uid]["frames"][0]["real"].rgba)
            entry.update(canvas=[mine.shape[1], mine.shape[0]], max_diff=worst, fraction_over_2=over, moved=moved)
            ok &= over <= MAX_FRACTION_OVER and moved > OVER
            say(f"{uid}: box {width:g} px, canvas {mine.shape[1]}x{mine.shape[0]}, mouse {mouse[uid][0]:+.3f},"
                f"{mouse[uid][1]:+.3f}: exported page vs real {component}: max {worst}/255, {over:.4%} of pixels "
                f"over {OVER}/255 (the pointer moved the real one by up to {moved}/255)")  # fmt: skip
            tiles.append((mine, theirs))
        if sheet is not None and tiles:
            write_sheet(sheet, tiles)
            say(f"side by side (exported page | real {component}): {sheet}")
            shutil.copy(tmp / "web" / "page.png", sheet.with_name(sheet.stem + "-page.png"))
    report["ok"] = ok
    print(json.dumps(report))
    return 0 if ok else 1


def write_sheet(path: Path, tiles: list[tuple[np.ndarray, np.ndarray]]) -> None:
    pad = 8
    width = max(a.shape[1] for a, _ in tiles) * 2 + 3 * pad
    height = sum(a.shape[0] for a, _ in tiles) + pad * (len(tiles) + 1)
    sheet = Image.new("RGB", (width, height), (40, 40, 40))
    y = pad
    for mine, theirs in tiles:
        sheet.paste(Image.fromarray(mine[..., :3]), (pad, y))
        sheet.paste(Image.fromarray(theirs[..., :3]), (2 * pad + mine.shape[1], y))
        y += mine.shape[0] + pad
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(256).save(path, optimize=True)


if __name__ == "__main__":
    sys.exit(main())
