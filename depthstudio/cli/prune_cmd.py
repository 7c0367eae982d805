"""``depthstudio prune``: free the PNGs of superseded results (retention), or with ``--dry-run`` say what it would."""

from __future__ import annotations

import json

import click

from depthstudio.cli import AppContext, fail, pass_app
from depthstudio.errors import DepthstudioError


@click.command("prune")
@click.option(
    "--keep",
    type=click.IntRange(1, None),
    help="Newest results per user whose PNGs stay (default: retention.keep_results); current and live ones always.",
)
@click.option("--dry-run", is_flag=True, help="Report the rows and bytes it would free; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@pass_app
def prune_cmd(app: AppContext, keep: int | None, dry_run: bool, as_json: bool) -> None:
    """Free the stored PNGs of superseded results; result rows and review history stay."""
    from depthstudio.cli.jobs_cmd import open_portal
    from depthstudio.portal.retention import prune

    portal = open_portal(app)
    try:
        report = prune(portal, keep=keep or app.config.retention.keep_results, dry_run=dry_run)
    except DepthstudioError as err:
        fail(err)
    finally:
        portal.close()
    if as_json:
        fields = ("rows", "png8_bytes", "layer_bytes", "bytes", "dry_run")
        click.echo(json.dumps({k: getattr(report, k) for k in fields}))
    else:
        click.echo(report.line())


def register(main: click.Group) -> None:
    main.add_command(prune_cmd)
