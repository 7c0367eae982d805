"""The ``depthstudio`` command. With no subcommand it opens the studio window.

Each command lives in its own module under ``depthstudio.cli`` and registers itself through ``register(main)``;
heavy imports (Qt, torch, GL) happen inside the command functions so that ``depthstudio users`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import click

from depthstudio.config import Config, load_config
from depthstudio.errors import DepthstudioError

# Exit codes shared by every command (cron wrappers rely on them).
EXIT_OK = 0
EXIT_PARTIAL = 3  # the run finished but some users failed
EXIT_FATAL = 2  # nothing could be done: bad config, database unreachable, ...
EXIT_CANCELLED = 130

COMMAND_MODULES = [
    "depthstudio.cli.config_cmd",
    "depthstudio.cli.jobs_cmd",
    "depthstudio.cli.depth_cmd",
    "depthstudio.cli.web_cmd",
    "depthstudio.cli.render_cmd",
    "depthstudio.cli.studio_cmd",
    "depthstudio.cli.db_cmd",
    "depthstudio.cli.desktop_cmd",
    "depthstudio.cli.models_cmd",
]


class AppContext:
    """What every command needs: the resolved configuration (lazily: ``--help`` must not touch the disk)."""

    def __init__(self, config_path: Path | None, overrides: dict[str, dict[str, object]]) -> None:
        self._path = config_path
        self._overrides = overrides
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self._path, overrides=self._overrides)
        return self._config


pass_app = click.make_pass_decorator(AppContext)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TOML config file to use.")
@click.option("--portal-url", help="Portal database URL (SQLAlchemy form); default: the embedded demo portal.")
@click.option("--users-table", help="Name of the portal's users table.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="depthstudio")
@click.pass_context
def main(
    ctx: click.Context,
    config_path: Path | None,
    portal_url: str | None,
    users_table: str | None,
    verbose: int,
) -> None:
    """depthstudio: make, review and publish 3D (depth-map) avatars for a portal."""
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    overrides: dict[str, dict[str, object]] = {
        "portal": {"url": portal_url, "table": users_table},
    }
    ctx.obj = AppContext(config_path, overrides)
    if ctx.invoked_subcommand is None:
        from depthstudio.cli.studio_cmd import open_studio

        ctx.exit(open_studio(ctx.obj))


def fail(err: DepthstudioError) -> None:
    """A specific, human error on stderr and the fatal exit code; no traceback for expected failures."""
    click.secho(f"error: {err}", fg="red", err=True)
    sys.exit(EXIT_FATAL)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(main)
