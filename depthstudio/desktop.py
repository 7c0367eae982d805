"""A freedesktop launcher: the ``.desktop`` entry and the icon, so the studio starts from the applications menu."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from depthstudio.resources import resource

APP_ID = "depthstudio"
ICON = ("icons", "depthstudio.svg")


def xdg_data_home() -> Path:
    """``$XDG_DATA_HOME`` or ``~/.local/share``, as the XDG Base Directory specification says."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def _exec_arg(arg: str) -> str:
    # Desktop Entry spec, "The Exec key": arguments with reserved characters are double-quoted, and inside the
    # quotes ", `, $ and \\ are escaped with a backslash; a literal % is written %%.
    arg = arg.replace("%", "%%")
    if not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'


def desktop_entry(command: list[str]) -> str:
    exec_line = " ".join(_exec_arg(a) for a in command)
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Name=depthstudio",
            "GenericName=3D avatar studio",
            "Comment=Make, review and publish 3D parallax avatars for a portal",
            f"Exec={exec_line}",
            f"Icon={APP_ID}",
            "Terminal=false",
            "Categories=Graphics;2DGraphics;",
            "StartupWMClass=depthstudio",
            "",
        ]
    )


def launch_command() -> list[str]:
    """This installation's interpreter running the studio: right in any virtualenv, whatever PATH the menu has.
    In the desktop bundle (PyInstaller sets ``sys.frozen``) the executable is the CLI itself and takes no ``-m``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "studio"]
    return [sys.executable, "-m", "depthstudio", "studio"]


def install(data_home: Path | None = None) -> tuple[Path, Path]:
    """Write the entry and the icon under the XDG data dir; returns their paths. Idempotent."""
    base = data_home or xdg_data_home()
    apps = base / "applications"
    icons = base / "icons" / "hicolor" / "scalable" / "apps"
    apps.mkdir(parents=True, exist_ok=True)
    icons.mkdir(parents=True, exist_ok=True)
    icon = icons / f"{APP_ID}.svg"
    shutil.copyfile(resource("resources", *ICON), icon)
    entry = apps / f"{APP_ID}.desktop"
    entry.write_text(desktop_entry(launch_command()), encoding="utf-8")
    return entry, icon


def uninstall(data_home: Path | None = None) -> list[Path]:
    base = data_home or xdg_data_home()
    removed = []
    for path in (base / "applications" / f"{APP_ID}.desktop", base / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg"):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
