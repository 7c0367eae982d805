"""``export-web``: the parameters as the web component's props, plus a standalone preview, for the portal."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from depthstudio.cli import EXIT_OK, EXIT_PARTIAL, AppContext, fail, pass_app
from depthstudio.errors import DepthstudioError


@click.command("export-web")
@click.argument("users", nargs=-1)
@click.option("--all", "all_users", is_flag=True, help="Export every user of the portal.")
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write (new, empty, or an earlier export, which is replaced).",
)
@click.option("--title", default="depthstudio web preview", show_default=True, help="Title of index.html.")
@pass_app
def export_web_cmd(app: AppContext, users: tuple[str, ...], all_users: bool, out_dir: Path, title: str) -> None:
    """Write USERS' (or --all users') web props, photos, depth maps, the viewer and an offline index.html."""
    from depthstudio.portal.repository import Portal
    from depthstudio.render.web_export import export_web

    if bool(users) == all_users:
        raise click.UsageError("give user ids or --all (not both)")
    try:
        portal = Portal.open(app.config)
        summary = export_web(portal, None if all_users else list(users), out_dir, title=title)
    except DepthstudioError as err:
        fail(err)
        raise  # unreachable: fail() exits
    counts = {o: len(summary.ids(o)) for o in ("depth", "plain", "skipped", "failed")}
    click.echo(
        f"export-web: {counts['depth']} with depth, {counts['plain']} plain image, "
        f"{counts['skipped']} skipped, {counts['failed']} failed -> {summary.out_dir / 'index.html'}"
    )
    for item in summary.items:
        if item.outcome in ("skipped", "failed"):
            click.echo(f"  {item.user_id}: {item.outcome} [{item.kind}] {item.message}")
    sys.exit(EXIT_OK if summary.ok else EXIT_PARTIAL)


def register(main: click.Group) -> None:
    main.add_command(export_web_cmd)
