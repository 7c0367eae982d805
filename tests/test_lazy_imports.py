"""The studio starts without httpx (imported on the first web fetch): local photos never need it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import tiny_png

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import depthstudio.ui.main_window
from depthstudio.imaging import FetchPolicy, fetch_bytes
body, _ = fetch_bytes({photo!r}, FetchPolicy(allow_local_paths=True))
print(len(body) > 0, "httpx" in sys.modules)
from depthstudio.imaging import forbidden_reason
print(forbidden_reason("127.0.0.1") is not None, "httpx" in sys.modules)
"""


def test_the_studio_and_a_local_photo_do_not_import_httpx(tmp_path):
    photo = tiny_png(tmp_path / "a.png")
    script = SCRIPT.format(root=str(ROOT), photo=photo)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["True", "False", "True", "True"]  # and forbidden_reason still loads it when asked


def test_the_studios_modules_leave_the_keyring_demo_seeding_grid_and_urllib_request_for_later():
    """Each is imported where it is used (the backend label, a demo portal, Ctrl+G, a file:// URL), not at start."""
    late = ("keyring", "urllib.request", "depthstudio.jobs.demo", "depthstudio.ui.culling", "depthstudio.depth.factory")
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import depthstudio.ui.app, depthstudio.ui.main_window, depthstudio.portal.repository\n"
        f"print([name for name in {late!r} if name in sys.modules])"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip() == "[]"
