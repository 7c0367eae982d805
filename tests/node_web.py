"""The Node side of the web tests: `npm ci` of web/ (cached by the lockfile's hash), the package build, `next start`.

Node >= 20.9 (Next.js 16's minimum) must be on PATH; under CI its absence fails the tests, elsewhere it skips them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.chromium import unavailable
from tests.conftest import REPO

WEB = REPO / "web"
NEXT_APP = WEB / "next-app"
MIN_NODE = (20, 9)


def node() -> str:
    """The node executable, or a skip (a failure under CI) saying what is missing."""
    exe = shutil.which("node")
    if not exe or not shutil.which("npm"):
        unavailable("node and npm are not on PATH")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if tuple(int(x) for x in version.lstrip("v").split(".")[:2]) < MIN_NODE:
        unavailable(f"node {version} is older than {'.'.join(map(str, MIN_NODE))} (Next.js 16's minimum)")
    return exe


def run(cmd: list[str], cwd: Path = WEB, timeout: float = 600) -> str:
    """Run a Node-side command; its output is the failure message when it fails."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done.stdout


def _lock_hash() -> str:
    h = hashlib.sha256()
    for f in ("package.json", "package-lock.json", "react/package.json", "next-app/package.json"):
        h.update((WEB / f).read_bytes())
    return h.hexdigest()


def install() -> None:
    """`npm ci` from the committed lockfile, skipped while node_modules was installed from the same one."""
    node()
    marker = WEB / "node_modules" / ".depthstudio-installed"
    digest = _lock_hash()
    if marker.exists() and marker.read_text() == digest:
        return
    run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"])
    marker.write_text(digest)


def build_package() -> str:
    """Build @depthstudio/react (ESM + .d.ts); returns the build's size line."""
    out = run(["node", "react/build.mjs"])
    return next(line for line in out.splitlines() if "min+gzip" in line)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def next_server() -> Iterator[str]:
    """`next build` of the test app, then `next start` on 127.0.0.1; yields its base URL."""
    run(["npm", "run", "build"], cwd=NEXT_APP)
    port = _free_port()
    env = {**os.environ, "NEXT_TELEMETRY_DISABLED": "1"}
    proc = subprocess.Popen(
        ["npx", "next", "start", "-H", "127.0.0.1", "-p", str(port)],
        cwd=NEXT_APP,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/still", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"next start did not serve {base} (exit status {proc.poll()})") from None
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def browser(scenario: str, base: str) -> dict[str, Any]:
    """Run one scenario of web/e2e/browser.mjs (playwright-core + Debian's Chromium); its JSON findings."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        unavailable("no chromium on PATH")
    out = run(["node", "e2e/browser.mjs", scenario, base], timeout=180)
    return json.loads(out.strip().splitlines()[-1])
