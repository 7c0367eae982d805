"""``depthstudio`` (no arguments) and ``depthstudio studio``: the desktop window."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from depthstudio.errors import DepthstudioError

if TYPE_CHECKING:
    from depthstudio.cli import AppContext


def open_studio(app: AppContext) -> int:
    """Open the window on the configured (or demo) portal; configuration errors are shown in a dialog."""
    from depthstudio.cli import EXIT_FATAL

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
