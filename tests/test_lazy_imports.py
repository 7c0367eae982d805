"""The studio starts without httpx (imported on the first web fetch): local photos never need it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from depthstudio.imaging.fetch import local_path
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


def test_the_studios_modules_leave_the_keyring_demo_seeding_and_grid_for_later_and_never_need_urllib_request(
    tmp_path,
):
    """Each is imported where it is used (backend label, demo portal, Ctrl+G, T, undo publish), not at start; a
    file:// avatar (the demo's) is read and thumbnailed without urllib.request (http.client, email: 0.1 s)."""
    tiny_png(tmp_path / "a b.png")
    url = (tmp_path / "a b.png").resolve().as_uri()
    late = (
        *(
            "keyring",
            "urllib.request",
            "depthstudio.jobs.demo_results",
            "depthstudio.ui.culling",
            "depthstudio.depth.factory",
        ),
        *("depthstudio.ui.touchup_panel", "depthstudio.render.touchup", "depthstudio.jobs.unpublish"),
    )
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import depthstudio.ui.app, depthstudio.ui.main_window, depthstudio.portal.repository\n"
        "from depthstudio.imaging import FetchPolicy, fetch_bytes\n"
        "from depthstudio.studio.photos import thumbnail\n"
        f"assert fetch_bytes({url!r}, FetchPolicy(allow_local_paths=True))[0]\n"
        f"assert thumbnail({url!r}, 16, FetchPolicy(allow_local_paths=True)).size == (16, 16)\n"
        f"print([name for name in {late!r} if name in sys.modules])"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip() == "[]"


def test_a_file_urls_path_is_what_urllib_request_makes_of_it():
    from urllib.parse import unquote
    from urllib.request import url2pathname

    for path in ("/tmp/a%20b.png", "/srv/x%2520y.jpg", "/plain/path.png", "/t/%C3%BC.png"):
        assert local_path(path) == Path(url2pathname(unquote(path)))
