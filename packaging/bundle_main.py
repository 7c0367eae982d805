"""The bundle's one executable: with no arguments it opens the studio, with arguments it is the CLI
(``generate-missing``, ``worker``, ...), exactly like the wheel's ``depthstudio`` command.

PyInstaller freezes this file (scripts/build_bundle.py); the build also runs it with the wheel's own interpreter, so
the two start-up times it compares come from the same code.

With ``DEPTHSTUDIO_FIRST_FRAME=<png>`` in the environment it also watches for the first 3D frame: the first frame the
preview draws of a user with a depth map. Then it prints ``FIRST_FRAME <seconds since the process started>``, saves
the screen to the PNG and quits. The clock starts at the process's start, read from the kernel, so a frozen
executable's unpacking and a virtualenv's interpreter start are both counted.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

FIRST_FRAME = "DEPTHSTUDIO_FIRST_FRAME"


def _process_age_s() -> float:
    """Seconds since this process was started (Linux: /proc; elsewhere: since this module ran, a slight undercount)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as uptime:
            now_s = float(uptime.read().split()[0])
        return now_s - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


_IMPORTED = time.monotonic()


def _watch_first_frame(png: str) -> None:
    """Hook the preview of the main window, once it exists, without changing what the studio does."""
    import numpy as np
    from PySide6.QtCore import QTimer

    from depthstudio.ui.app import application

    app = application()  # the one the studio then uses: application() returns the existing instance
    hooked: set[int] = set()

    def done(window: Any, preview: Any) -> None:
        age = _process_age_s()
        saved = app.primaryScreen().grabWindow(0).save(png)
        # Proof of 3D, not only a picture: the frame held at a pointer offset differs from the frame shown first.
        first = preview.frame_rgb().astype(np.int16)
        preview.set_mouse((0.8, -0.6))
        moved = float(np.abs(preview.frame_rgb().astype(np.int16) - first).mean())
        user = getattr(getattr(window, "current", None), "name", "")
        if saved:
            print(f"FIRST_FRAME {age:.3f} {moved:.2f} {user}", flush=True)
        else:
            print(f"FIRST_FRAME failed: cannot write {png}", flush=True)
        if saved:
            window.close()  # the way an editor quits: the studio finishes or abandons its background work
        else:
            app.exit(1)

    def hook(window: Any, preview: Any) -> None:
        fired: list[bool] = []

        def drawn() -> None:
            if not fired and getattr(preview, "has_depth", False):
                fired.append(True)
                QTimer.singleShot(0, lambda: done(window, preview))  # once this frame is on the screen

        preview.frame_drawn.connect(drawn)

    def look() -> None:
        for window in app.topLevelWidgets():
            preview = getattr(window, "preview", None)
            if preview is not None and hasattr(preview, "frame_drawn") and id(window) not in hooked:
                hooked.add(id(window))
                hook(window, preview)
        if not hooked:
            QTimer.singleShot(5, look)

    QTimer.singleShot(0, look)


def main() -> None:
    png = os.environ.get(FIRST_FRAME)
    if png and len(sys.argv) <= 1:
        _watch_first_frame(png)
    from depthstudio.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
