"""The real window at the sizes editors use, from a laptop with a dock to a 1440p screen at scale 2 (and the
smallest size once more with the grid and the message area open).

Each size opens the studio in a process of its own (``tests/ui/layout_probe.py``: the scale factor is fixed when
Qt starts) on a demo portal with a day's state, and asks the real widgets' geometry: every control inside the
window, no label or button narrower than its text except where cutting is designed, no empty scroll bar.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIZES = [(1024, 700, 1, ""), (1366, 768, 1, ""), (1600, 1000, 1, ""), (2560, 1440, 2, ""), (1024, 700, 1, "crowded")]


@pytest.mark.parametrize(
    ("width", "height", "scale", "state"), SIZES, ids=[f"{w}x{h}@{s}{'-' + c if c else ''}" for w, h, s, c in SIZES]
)
def test_every_control_is_whole_and_inside_the_window(
    width: int, height: int, scale: int, state: str, tmp_path: Path
) -> None:
    if not os.environ.get("DISPLAY"):
        if os.environ.get("CI"):
            pytest.fail("the layout test needs a display (run under xvfb-run -a)")
        pytest.skip("no display (run under xvfb-run -a)")
    env = dict(os.environ, QT_SCALE_FACTOR=str(scale))
    env.pop("QT_QPA_PLATFORM", None)
    shot = REPO / "artifacts" / "layout" / f"{width}x{height}@{scale}{state}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "ui" / "layout_probe.py"), str(width), str(height), str(shot), state],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ratio"] == scale
    assert report["problems"] == [], "\n".join(report["problems"])
