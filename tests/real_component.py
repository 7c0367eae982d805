"""The published react-depth-map, installed from npm into a cache directory and drawn in Chromium by playwright-core.

This is the reference the web viewer and the numpy renderer are measured against (issue 23): not a transcription.
`tests/web/rdm/package.json` and its lock pin the versions; ``npm ci`` installs them once per lock into
``$DEPTHSTUDIO_TEST_CACHE`` (default ``~/.cache/depthstudio-tests``). The portal's fork is the published file with its
two ``(tex1.r - 0.5)`` terms made ``- 0.05`` (PixelsCommander/react-depth-map), copied next to it. esbuild bundles
both with React 16 into one page; ``driver.mjs`` draws jobs with Debian's Chromium (``executablePath``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from tests.chromium import FLAGS, executable, unavailable
from tests.conftest import REPO

SOURCE = REPO / "tests" / "web" / "rdm"
PUBLISHED_TERM = "(tex1.r - 0.5)"
FORK_TERM = "(tex1.r - 0.05)"


def cache_root() -> Path:
    return Path(os.environ.get("DEPTHSTUDIO_TEST_CACHE") or Path.home() / ".cache" / "depthstudio-tests")


def _key() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json", "entry.js", "driver.mjs"):
        digest.update((SOURCE / name).read_bytes())
    return digest.hexdigest()[:16]


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        unavailable(f"{what} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def patch_fork(published: str) -> str:
    """The portal's fork: the published shader with the plane at 0.05 instead of 0.5 (both terms, nothing else)."""
    count = published.count(PUBLISHED_TERM)
    if count != 2:
        raise AssertionError(f"react-depth-map's shader should have two {PUBLISHED_TERM!r} terms, found {count}")
    return published.replace(PUBLISHED_TERM, FORK_TERM)


@functools.cache
def install() -> Path:
    """The built reference (node_modules, the fork copy, bundle.js, page.html, driver.mjs); built once per lock."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        unavailable("node and npm are needed for the real react-depth-map (Debian: apt-get install nodejs npm)")
    target = cache_root() / f"react-depth-map-{_key()}"
    if (target / "bundle.js").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="building-", dir=target.parent))
    for name in ("package.json", "package-lock.json", "entry.js", "driver.mjs"):
        shutil.copy(SOURCE / name, work / name)
    _run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], work, "npm ci (react-depth-map 1.0.9, esbuild)")
    published = (work / "node_modules" / "react-depth-map" / "lib" / "ImageDepthMap.js").read_text()
    (work / "fork").mkdir()
    (work / "fork" / "ImageDepthMap.js").write_text(patch_fork(published))
    _run(
        [
            str(work / "node_modules" / ".bin" / "esbuild"),
            "entry.js",
            "--bundle",
            "--format=iife",
            '--define:process.env.NODE_ENV="production"',
            "--outfile=bundle.js",
            "--log-level=warning",
        ],
        work,
        "esbuild",
    )
    (work / "page.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0}</style></head>'
        '<body><script src="bundle.js"></script></body></html>'
    )
    try:
        work.rename(target)
    except OSError:  # another run finished first: same lock, same build
        shutil.rmtree(work, ignore_errors=True)
    return target


class _Handler(SimpleHTTPRequestHandler):
    """The repository at /, the built reference at /rdm/, a folder of test images at /img/."""

    routes: ClassVar[dict[str, Path]] = {}

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, root in self.routes.items():
            if clean.startswith(prefix):
                return str(root / clean[len(prefix) :])
        return str(REPO / clean.lstrip("/"))

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve(images: Path) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"routes": {"/rdm/": install(), "/img/": images}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(REPO)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Frame:
    """One drawn canvas (RGBA, top row first) and what produced it."""

    rgba: np.ndarray
    info: dict[str, Any]


def _frame(raw: dict[str, Any]) -> Frame:
    w = raw.get("bufferWidth", raw["width"])
    h = raw.get("bufferHeight", raw["height"])
    rgba = np.frombuffer(base64.b64decode(raw.pop("data")), np.uint8).reshape(h, w, 4)
    if raw.get("bottomUp"):
        rgba = rgba[::-1]
    return Frame(np.ascontiguousarray(rgba), raw)


def draw(base: str, jobs: list[dict[str, Any]], viewport: tuple[int, int] = (1000, 800)) -> list[dict[str, Any]]:
    """Run the jobs in one browser; each job gets ``offsetWidth`` and per pointer a ``real`` and an ``ours`` Frame."""
    root = install()
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp) / "jobs.json", Path(tmp) / "out.json"
        flags = [f for f in FLAGS if f not in ("--headless", "--remote-debugging-pipe")]
        spec = {
            "executable": executable(),
            "args": [*flags, "--disable-gpu"],
            "base": base,
            "viewport": {"width": viewport[0], "height": viewport[1]},
            "jobs": jobs,
        }
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run(
            ["node", str(root / "driver.mjs"), str(spec_path), str(out_path)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise AssertionError(f"the playwright-core driver failed: {proc.stderr[-4000:]}")
        results = json.loads(out_path.read_text())
    for result in results:
        for frame in result["frames"]:
            frame["real"] = _frame(frame["real"])
            if frame["ours"] is not None:
                frame["ours"] = _frame(frame["ours"])
    return results
