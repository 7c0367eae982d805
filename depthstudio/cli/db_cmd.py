"""``depthstudio db upgrade`` / ``db status``: depthstudio's own tables, migrated on purpose."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import click
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from depthstudio.cli import EXIT_OK, AppContext, fail, pass_app
from depthstudio.errors import DepthstudioError, PortalError


@contextlib.contextmanager
def _database(app: AppContext) -> Iterator[Engine]:
    """The portal's database for one command; any failure ends the command with its sentence (``fail``)."""
    from depthstudio.portal.engine import portal_engine, unreachable

    try:
        engine = portal_engine(app.config)
        try:
            yield engine
        except OperationalError as exc:
            raise unreachable(engine, exc) from None
        finally:
            engine.dispose()
    except DepthstudioError as err:
        fail(err)


@click.group("db")
def db_group() -> None:
    """depthstudio's own tables in the portal's database (prefix depthstudio_)."""


@db_group.command("upgrade")
@pass_app
def upgrade_cmd(app: AppContext) -> None:
    """Create or upgrade depthstudio's tables to the current schema (needs a role that may create tables)."""
    from depthstudio.portal import migrate

    with _database(app) as engine:
        before = migrate.current_revision(engine)
        if not migrate.may_create_tables(engine):
            raise PortalError(
                f"the database role {engine.url.username or '(default)'} may not create tables here; run "
                "`depthstudio db upgrade` with the schema owner's role (e.g. --portal-url with that user)",
                kind="no_create_privilege",
            )
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    if before == after:
        click.echo(f"depthstudio's tables are current (schema version {after})")
    else:
        click.echo(f"upgraded depthstudio's tables from {before or 'nothing'} to schema version {after}")


@db_group.command("status")
@pass_app
def status_cmd(app: AppContext) -> None:
    """Print the schema version of depthstudio's tables and whether it is current; changes nothing."""
    from depthstudio.portal import migrate

    with _database(app) as engine:
        current, head = migrate.current_revision(engine), migrate.head_revision()
    if current == head:
        click.echo(f"schema version {current} (current)")
    else:
        click.echo(f"schema version {current or 'none'}; current is {head}: run `depthstudio db upgrade`")
    click.get_current_context().exit(EXIT_OK if current == head else 1)


def register(main: click.Group) -> None:
    main.add_command(db_group)
