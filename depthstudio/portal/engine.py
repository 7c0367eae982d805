"""The engine for the portal's database (depthstudio's tables live there too): the password from the secret store,
safe pool settings."""

from __future__ import annotations

import functools
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, NoReturn, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import Pool

from depthstudio.config import Config, PortalConfig, get_secret
from depthstudio.errors import ConfigError, PortalError
from depthstudio.retry import RetryPolicy

log = logging.getLogger(__name__)
# six tries, 0.2 s more wait each time: about 3 s for a failover before the transaction fails
_DISCONNECT_RETRY = RetryPolicy(attempts=6, first_s=0.2, backoff="linear")
T = TypeVar("T")


def redact_url(url: str) -> str:
    """A database URL as it may be shown: any password replaced, even in a URL too broken to parse."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", url)


# Prisma's PostgreSQL URL parameters (prisma.io docs, "PostgreSQL database connector", arguments table) that libpq
# does not know: each is either understood here or refused by name with what to write instead. ``schema`` is the
# one every Prisma portal has; it names the schema of the portal's tables (``[portal] schema``).
_PRISMA_UNDERSTOOD = ("schema", "connection_limit", "pool_timeout", "pgbouncer")
_PRISMA_REFUSED = {
    "sslaccept": "use sslmode=verify-full (strict) or sslmode=require (any certificate) instead",
    "sslidentity": "use sslcert=… and sslkey=… (PEM files) instead of a PKCS#12 identity",
    "sslpassword": "use an unencrypted sslkey file (or the keyring for the database password)",
    "socket_timeout": "use [portal] statement_timeout_s",
    "statement_cache_size": "remove it: depthstudio's driver manages prepared statements itself",
    "schema_search_path": "remove it; name the schema with ?schema= or [portal] schema",
}


def prisma_parameters(url: URL) -> tuple[URL, dict[str, str]]:
    """The URL without Prisma's own parameters, and those parameters (understood ones only); a refused one is a
    ``ConfigError`` that names it. Other query parameters are libpq's and go to the driver as they are."""
    if not url.drivername.startswith("postgresql"):
        return url, {}
    query = dict(url.query)
    for name, advice in _PRISMA_REFUSED.items():
        if name in query:
            raise ConfigError(f"the PostgreSQL URL's parameter {name!r} (Prisma's) is not supported here: {advice}")
    found = {}
    for name in _PRISMA_UNDERSTOOD:
        if name in query:
            value = query.pop(name)
            found[name] = value if isinstance(value, str) else value[-1]
    for name in ("connection_limit", "pool_timeout"):
        if name in found and not found[name].isdigit():
            raise ConfigError(f"the PostgreSQL URL's {name}={found[name]!r} is not a whole number of {name[-7:]}")
    return url.set(query=query), found


def _with_password(url: URL) -> URL:
    if url.password is None and url.drivername.startswith(("postgresql", "mysql")):
        password = get_secret("portal_db_password")
        if password:
            return url.set(password=password)
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite would only BEGIN at the first write, so a transaction's reads were not part of it; SQLAlchemy's
    # documented recipe: switch pysqlite's own transaction handling off and emit BEGIN ourselves (_sqlite_begin).
    dbapi_conn.isolation_level = None
    # WAL lets the studio read while a job writes; busy_timeout turns lock contention into waiting, not errors.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """A transaction that reads before it writes asks for the write lock up front (``sqlite_immediate``): a
    deferred one would fail at once (SQLITE_BUSY, no busy wait) when another writer committed after its read."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The engine for a read-then-write transaction (``with writer(engine).begin()``); the same pool."""
    return engine.execution_options(sqlite_immediate=True) if engine.dialect.name == "sqlite" else engine


_sqlite_write_locks: weakref.WeakKeyDictionary[Pool, threading.Lock] = weakref.WeakKeyDictionary()
_sqlite_write_locks_guard = threading.Lock()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-then-write transaction for the hot paths (the queue's claims, results, heartbeats).

    SQLite has one writer; its threads that find the write lock taken sleep in SQLite's busy handler (1, 2, 5 … up
    to 100 ms a nap), so sixteen threads of one runner mostly slept. Here they queue on a Python lock per database
    instead and start the moment the previous writer commits. Other processes still meet the busy handler.
    On PostgreSQL this is ``engine.begin()``: row locks, no global writer.
    """
    lock: threading.Lock | None = None
    if engine.dialect.name == "sqlite":
        with _sqlite_write_locks_guard:
            lock = _sqlite_write_locks.setdefault(engine.pool, threading.Lock())
    with lock or nullcontext(), writer(engine).begin() as conn:
        yield conn


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    connect_timeout_s: float = PortalConfig.connect_timeout_s,
    statement_timeout_s: float = PortalConfig.statement_timeout_s,
    studio_schema: str = "",
) -> Engine:
    """``pool_pre_ping`` so a dropped connection (server restart, idle timeout) is replaced, not raised mid-run;
    connection and statement timeouts so that a firewalled host or a stuck query fails instead of hanging.

    ``studio_schema`` (PostgreSQL): every connection's search_path starts with it, so depthstudio's tables (never
    schema-qualified in code) are made and found there, while the portal's table is reflected with its schema named.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"the database URL is not valid: {redact_url(url)!r}; expected e.g. "
            "postgresql+psycopg://user@host:5432/portal or sqlite:///path/to/portal.db"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    parsed, prisma = prisma_parameters(parsed)
    pool_size = int(prisma.get("connection_limit", pool_size))
    connect_timeout_s = float(prisma.get("pool_timeout", connect_timeout_s))
    parsed = _with_password(parsed)
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "future": True}
    if parsed.drivername.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if parsed.database not in (None, "", ":memory:"):  # a file: a QueuePool, sized like the server's
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, pool_timeout=connect_timeout_s)
    if parsed.drivername.startswith("postgresql"):
        # libpq's connect_timeout bounds the whole connection setup (TCP and the startup exchange), in whole
        # seconds, at least 2; statement_timeout makes the server cancel a statement that runs too long.
        options = f"-c statement_timeout={int(statement_timeout_s * 1000)}"
        if studio_schema:
            if not _IDENTIFIER.fullmatch(studio_schema):
                raise ConfigError(
                    f"[portal] studio_schema = {studio_schema!r} is not a plain lower-case PostgreSQL name "
                    "(letters, digits, underscores)"
                )
            options += f" -c search_path={studio_schema},public"
        kwargs["connect_args"] = {"connect_timeout": max(2, round(connect_timeout_s)), "options": options}
        if prisma.get("pgbouncer", "").lower() == "true":
            # PgBouncer in transaction mode hands each transaction another server connection: no prepared statements
            kwargs["connect_args"]["prepare_threshold"] = None
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise ConfigError(
            f"unknown database driver {parsed.drivername!r} in the database URL; use postgresql+psycopg or sqlite"
        ) from None
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the database driver for {parsed.drivername} is not installed ({exc.name}); "
            "for PostgreSQL run: pip install 'depthstudio[postgres]'"
        ) from None
    if parsed.drivername.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def portal_engine(config: Config) -> Engine:
    """The configured portal's engine with its timeouts (the demo portal is made on first use): the one way
    ``Portal.open`` and the ``db`` commands reach the database."""
    if config.is_demo:
        from depthstudio.portal.demo import ensure_demo_portal

        ensure_demo_portal(config.demo_portal_path())
    return make_engine(
        config.portal_url(),
        connect_timeout_s=config.portal.connect_timeout_s,
        statement_timeout_s=config.portal.statement_timeout_s,
        studio_schema=config.portal.studio_schema,
    )


def unreachable(engine: Engine, exc: OperationalError, what: str = "the database") -> PortalError:
    """The sentence for a database that refused or dropped the connection (transient: a retry may succeed)."""
    where = f" at {engine.url.host}:{engine.url.port or 5432}" if engine.url.host else ""
    return PortalError(f"cannot use {what}{where}: {exc.orig}", kind="unreachable", transient=True)


def retry_on_disconnect(fn: Callable[..., T]) -> Callable[..., T]:
    """Rerun a whole transaction when the database connection dropped under it (server restart, failover,
    ``pg_terminate_backend``). Only for transactions that are safe to repeat: each of ours is conditional on the
    state it expects (a held lease, an unchanged avatar), so a repeat after a lost commit acknowledgement finds
    nothing to do instead of doing it twice.
    """

    def give_up(exc: BaseException, _attempts: int) -> NoReturn:
        raise PortalError(
            "the database connection keeps dropping; check the server and retry",
            kind="database_unreachable",
            transient=True,
        ) from None

    def on_retry(_exc: BaseException, _delay: float) -> None:
        log.warning("database connection dropped during %s; retrying", fn.__name__)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return _DISCONNECT_RETRY.call(
            lambda: fn(*args, **kwargs),
            retry_on=lambda exc: isinstance(exc, DBAPIError) and exc.connection_invalidated,
            give_up=give_up,
            on_retry=on_retry,
        )

    return wrapper
