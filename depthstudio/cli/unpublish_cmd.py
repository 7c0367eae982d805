"""``unpublish``: undo users' latest publish, putting back what the portal showed before (compare-and-set)."""

from __future__ import annotations

import sys

import click

from depthstudio.cli import EXIT_OK, EXIT_PARTIAL, AppContext, pass_app
from depthstudio.cli.jobs_cmd import open_portal
from depthstudio.portal.repository import current_reviewer


@click.command("unpublish")
@click.argument("user_ids", nargs=-1, required=True)
@pass_app
def unpublish_cmd(app: AppContext, user_ids: tuple[str, ...]) -> None:
    """Undo the latest publish of each USER: the portal's depth column goes back to its earlier value, only if it
    still shows the URL depthstudio wrote. The stored asset is kept. Recorded in the review history."""
    from depthstudio.jobs.unpublish import UnpublishError, unpublish

    portal = open_portal(app)
    by = current_reviewer(app.config)
    refused = 0
    for user_id in user_ids:
        try:
            click.echo(unpublish(portal, user_id, by=by).line())
        except UnpublishError as err:
            refused += 1
            click.echo(f"{user_id}: not undone [{err.kind}]: {err}", err=True)
    sys.exit(EXIT_PARTIAL if refused else EXIT_OK)


def register(main: click.Group) -> None:
    main.add_command(unpublish_cmd)
