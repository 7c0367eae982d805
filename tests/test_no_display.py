"""Without a display the studio says so in one sentence (and exits 2); every other command works as it is."""

from __future__ import annotations

import os
import subprocess
import sys

from depthstudio.cli.studio_cmd import no_display


def _headless_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return env


def test_the_studio_without_a_display_says_so_and_names_what_still_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "depthstudio", "studio"], env=_headless_env(), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "needs a display" in done.stderr and "generate-missing" in done.stderr
    assert "xcb" not in done.stderr and "Aborted" not in done.stderr  # not Qt's advice for developers
    assert len(done.stderr.strip().splitlines()) == 1


def test_other_commands_run_without_a_display() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "depthstudio", "users", "--limit", "3"], env=_headless_env(), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_display_or_a_chosen_platform_lets_the_studio_try() -> None:
    assert no_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert no_display({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert no_display({}, "darwin") is None
    assert no_display({}, "linux") is not None
