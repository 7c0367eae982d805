"""The studio opens whole on a laptop's screen: its first size follows the screen, not the desktop default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from PySide6.QtWidgets import QApplication
from depthstudio.config import Config
from depthstudio.portal.repository import Portal
from depthstudio.ui.main_window import MainWindow
app = QApplication(sys.argv)
config = Config()
portal = Portal.open(config)
window = MainWindow(portal, config)
window.show()
app.processEvents()
screen = app.primaryScreen().availableGeometry()
frame = window.frameGeometry()
print(json.dumps({"screen": [screen.width(), screen.height()], "frame": [frame.width(), frame.height()]}))
window.close()
portal.close()
"""


@pytest.mark.parametrize("screen", [(1366, 768), (1920, 1080)])
def test_the_window_opens_inside_the_screen(tmp_path: Path, screen: tuple[int, int]) -> None:
    if not shutil.which("xvfb-run"):
        if os.environ.get("CI"):
            pytest.fail("xvfb-run is missing (Debian's xvfb)")
        pytest.skip("xvfb-run is missing")
    w, h = screen
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "QT_QPA_PLATFORM": "xcb"}
    env.pop("DISPLAY", None)
    out = subprocess.run(
        ["xvfb-run", "-a", "-s", f"-screen 0 {w}x{h}x24", sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    (sw, sh), (fw, fh) = seen["screen"], seen["frame"]
    assert fw <= sw and fh <= sh, seen  # no edge off screen
    # and it still takes most of a laptop's screen, and the preferred size where there is room
    assert fw >= min(1480, sw - 16) and fh >= min(900, sh - 40), seen
