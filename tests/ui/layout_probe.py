"""Open the real studio on a demo portal at one window size and print what is wrong with its layout, as JSON.

A process of its own per size: ``QT_SCALE_FACTOR`` must be set before the QApplication exists. The environment
(data and config dirs, the display) is the caller's. Usage: ``layout_probe.py WIDTH HEIGHT [screenshot.png]
[crowded]``; WIDTH and HEIGHT are device pixels, as a screen of that size has them. ``crowded``: the culling grid
with the message area open on a long error, the most a small screen has to hold.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _wait(app, predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        app.processEvents()
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not settle")
        time.sleep(0.01)


def _settle(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    width, height = int(sys.argv[1]), int(sys.argv[2])
    shot = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    crowded = len(sys.argv) > 4 and sys.argv[4] == "crowded"
    from depthstudio.depth.synthetic import SyntheticBackend
    from depthstudio.portal.repository import Portal, Query
    from depthstudio.ui.app import application
    from depthstudio.ui.main_window import MainWindow
    from tests.ui.conftest import seed_result, studio_config
    from tests.ui.geometry import problems

    app = application()
    portal = Portal.open(studio_config())
    # A day's state: results awaiting review, decisions, a failure, so every chip has a count.
    rows = [r for r in portal.list_users(Query(), limit=100) if r.avatar]
    for row in rows[:8]:
        seed_result(portal, row.id, qa_risk=0.8 if row is rows[0] else 0.1)
    portal.decide([rows[1].id, rows[2].id], "approved", reviewer="maria")
    portal.decide([rows[3].id], "rejected", reviewer="maria", note="halo around the hair, and a long note " * 4)
    window = MainWindow(portal, portal.config, backend_factory=lambda _cfg: SyntheticBackend())
    ratio = app.primaryScreen().devicePixelRatio()
    window.resize(round(width / ratio), round(height / ratio))
    window.show()
    _wait(app, lambda: window.current is not None and window.preview.content is not None and window.counts)
    if crowded:
        window.toggle_grid()
        window.show_error("the depth service refused the request: " + "a long explanation " * 40)
        window.messages.show()
    _settle(app, 0.5)
    found = problems(window)
    if (window.width(), window.height()) != (round(width / ratio), round(height / ratio)):
        found.append(f"the window is {window.width()}x{window.height()}, not the screen's {width}x{height} / {ratio}")
    if shot is not None:
        window.grab().save(str(shot))
    print(json.dumps({"size": [window.width(), window.height()], "ratio": ratio, "problems": found}))
    window.close()
    portal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
