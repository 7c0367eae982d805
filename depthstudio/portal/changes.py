"""The change feed: which users another studio, a worker or a publisher just changed, within a fraction of a second.

Triggers (migration 0005_12a) announce every write to a user's state (a decision, a new result, a job pointer) and
every publish, inside the writing transaction, so a change is announced exactly when it becomes visible:

- PostgreSQL: ``NOTIFY depthstudio_changes, '<user id>'``; the feed keeps one connection that LISTENs and wakes
  as notifications arrive (delivered at commit, never for a rolled-back transaction);
- SQLite: the triggers append to ``depthstudio_changes``; the feed asks ``PRAGMA data_version`` (which moves only
  when another connection committed) every ``poll_s`` and reads the new entries only then.

``on_change`` gets the set of user ids from the feed's thread; the studio bridges it to the GUI thread.
A feed that loses its connection reconnects and reports ``None``: anything may have changed meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

CHANNEL = "depthstudio_changes"
_BURST_S = 0.02  # after a notification, how long to gather the ones that follow it

log = logging.getLogger(__name__)

OnChange = Callable[[set[str] | None], None]


class ChangeFeed:
    """Start with ``start()``, end with ``stop()``; ``on_change`` runs on the feed's own thread."""

    def __init__(self, engine: Engine, on_change: OnChange, *, poll_s: float = 0.25) -> None:
        self.engine = engine
        self.on_change = on_change
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ChangeFeed:
        """Returns once the feed listens: a change committed after ``start()`` returns is reported."""
        self._thread = threading.Thread(target=self._run, name="depthstudio-changes", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self) -> None:
        listen = self._listen_postgresql if self.engine.dialect.name == "postgresql" else self._poll_sqlite
        first = True
        while not self._stop.is_set():
            try:
                listen(first)
            except Exception as exc:  # the server went away: come back, and let the studio re-read what it shows
                log.warning("change feed interrupted (%s); reconnecting", type(exc).__name__)
                self._ready.set()
                if self._stop.wait(1.0):
                    return
                first = False
                continue
            return

    def _emit(self, users: set[str] | None) -> None:
        try:
            self.on_change(users)
        except Exception:  # the listener's bug must not end the feed
            log.exception("change feed callback failed")

    def _listen_postgresql(self, first: bool) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._ready.set()
            if not first:
                self._emit(None)
            while not self._stop.is_set():
                # Wake at the first notification (the timeout only lets ``stop()`` in), then take what came
                # with it, so a burst of writes is one refresh.
                users = {n.payload for n in conn.notifies(timeout=self.poll_s, stop_after=1)}
                if users:
                    users |= {n.payload for n in conn.notifies(timeout=_BURST_S)}
                    self._emit(users)

    def _poll_sqlite(self, first: bool) -> None:
        raw = self.engine.raw_connection()  # its own connection: data_version counts other connections' commits
        try:
            cur = raw.cursor()
            # Read outside any transaction (the engine's connections run in autocommit mode, see engine.py).
            version = cur.execute("PRAGMA data_version").fetchone()[0]
            last = cur.execute("SELECT coalesce(max(id), 0) FROM depthstudio_changes").fetchone()[0]
            self._ready.set()
            if not first:
                self._emit(None)
            while not self._stop.wait(self.poll_s):
                now = cur.execute("PRAGMA data_version").fetchone()[0]
                if now == version:
                    continue
                version = now
                rows = cur.execute("SELECT id, user_id FROM depthstudio_changes WHERE id > ?", (last,)).fetchall()
                if rows:
                    last = max(r[0] for r in rows)
                    self._emit({str(r[1]) for r in rows})
        finally:
            raw.close()
