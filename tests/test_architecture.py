"""House rules that CI checks rather than remembers: the import contracts and a clean ruff."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def test_the_import_contracts_hold():
    """Qt only in the UI, no OpenGL in the core, the floors (no upward import), no import circles, and depthstudio's
    tables touched only by the portal package."""
    done = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def test_ruff_is_clean():
    done = subprocess.run(
        [_tool("ruff"), "check", "depthstudio", "tests", "benchmarks", "scripts", "packaging"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
