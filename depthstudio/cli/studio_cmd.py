"""``depthstudio`` (no arguments) and ``depthstudio studio``: the desktop window."""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from depthstudio.errors import DepthstudioError

if TYPE_CHECKING:
    from depthstudio.cli import AppContext


def no_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why the window cannot open here, in a sentence, or None. Checked before Qt loads: on Linux without a
    display (or without the one library Qt's X11 plugin needs) Qt aborts the process with advice for developers."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None  # macOS and Windows always have a screen; QT_QPA_PLATFORM is the user's own choice
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return (
            "the studio needs a display, and this session has none (DISPLAY and WAYLAND_DISPLAY are unset). Every "
            "other command works without one: generate-missing, worker, review, publish, render, export-web and more. "
            "Open the studio on a desktop (or try it here under `xvfb-run -a depthstudio studio`)."
        )
    if not env.get("WAYLAND_DISPLAY") and not _has_xcb_cursor():
        return (
            "the studio cannot open its window: Qt's X11 support needs the system library libxcb-cursor0, which "
            "was not found (Debian/Ubuntu: sudo apt install libxcb-cursor0; QT_QPA_PLATFORM=xcb tries anyway). "
            "Every other command works as it is."
        )
    return None


def _has_xcb_cursor() -> bool:
    """The desktop bundle (PyInstaller unpacks into ``sys._MEIPASS``) carries its own copy, which find_library,
    searching only the system's folders, cannot see."""
    bundled = getattr(sys, "_MEIPASS", None)
    if bundled and any(Path(bundled).glob("libxcb-cursor.so*")):
        return True
    return ctypes.util.find_library("xcb-cursor") is not None


def open_studio(app: AppContext) -> int:
    """Open the window on the configured (or demo) portal; configuration errors are shown in a dialog."""
    from depthstudio.cli import EXIT_FATAL

    reason = no_display()
    if reason:
        click.secho(f"error: {reason}", fg="red", err=True)
        return EXIT_FATAL
    try:
        from depthstudio.ui.app import application, error_box, run_studio
    except ImportError as exc:
        click.secho(f"error: the studio needs PySide6 and a display ({exc})", fg="red", err=True)
        return EXIT_FATAL
    try:
        config = app.config
    except DepthstudioError as err:
        application()
        error_box(None, "depthstudio: configuration", err)
        return EXIT_FATAL
    return run_studio(config)


def register(main: click.Group) -> None:
    @main.command("studio")
    @click.pass_obj
    def studio(app: AppContext) -> None:
        """Open the studio window (the same as running depthstudio with no command)."""
        raise SystemExit(open_studio(app))
