"""``depthstudio config``: show the effective configuration (secrets masked) and store secrets in the keyring."""

from __future__ import annotations

import json

import click
from sqlalchemy.engine import make_url

from depthstudio.cli import AppContext, fail, pass_app
from depthstudio.config import SECRETS, get_secret, mask, set_secret
from depthstudio.errors import DepthstudioError


def _hide_password(url: str) -> str:
    if not url:
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


@click.group("config")
def config_group() -> None:
    """Inspect the configuration and manage secrets."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Print the effective configuration; secrets and passwords are masked."""
    try:
        cfg = app.config
    except DepthstudioError as err:
        fail(err)
        return
    data = cfg.to_dict()
    data["portal"]["url"] = _hide_password(cfg.portal_url())
    data["secrets"] = {name: mask(get_secret(name)) for name in SECRETS}
    data["source"] = cfg.source
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for section, values in data.items():
        if isinstance(values, dict):
            click.echo(f"[{section}]")
            for key, value in values.items():
                click.echo(f"  {key} = {json.dumps(value)}")
        else:
            click.echo(f"{section} = {values}")


@config_group.command("set-secret")
@click.argument("name", type=click.Choice(sorted(SECRETS)))
def set_secret_cmd(name: str) -> None:
    """Store a secret in the OS keyring (prompted, never echoed)."""
    value = click.prompt(f"{name}", hide_input=True)
    try:
        set_secret(name, value)
    except DepthstudioError as err:
        fail(err)
    click.echo(f"{name} stored in the keyring as {mask(value)}")


def register(main: click.Group) -> None:
    main.add_command(config_group)
