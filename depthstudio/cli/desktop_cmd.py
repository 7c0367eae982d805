"""``depthstudio desktop-entry install|uninstall``: the applications-menu launcher on Linux desktops."""

from __future__ import annotations

import click

from depthstudio.cli import fail
from depthstudio.errors import DepthstudioError


@click.group("desktop-entry")
def desktop_group() -> None:
    """The freedesktop launcher (.desktop file and icon under $XDG_DATA_HOME)."""


@desktop_group.command("install")
def install_cmd() -> None:
    """Add depthstudio to the applications menu (this user only)."""
    from depthstudio.desktop import install

    try:
        entry, icon = install()
    except (DepthstudioError, OSError) as err:
        fail(err if isinstance(err, DepthstudioError) else DepthstudioError(f"cannot write the launcher: {err}"))
        return
    click.echo(f"wrote {entry}\nwrote {icon}")


@desktop_group.command("uninstall")
def uninstall_cmd() -> None:
    """Remove the launcher written by ``install``."""
    from depthstudio.desktop import uninstall

    for path in uninstall():
        click.echo(f"removed {path}")


def register(main: click.Group) -> None:
    main.add_command(desktop_group)
