"""The portal repository: ``Portal``, one object over the portal database, made of one part per concern.

Listing users with their status (``portal.listing``), results (``portal.results``), reviews
(``portal.reviews``), shader overrides (``portal.overrides``) and settings (``portal.settings_store``) each
change for their own reasons; this module only opens the database and puts the parts together. The names
callers import from here are re-exported from those modules.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from depthstudio.config import Config
from depthstudio.portal import migrate
from depthstudio.portal.engine import portal_engine, unreachable
from depthstudio.portal.listing import QA_FLAG_THRESHOLD, SORTS, Query, UserListing, UserRow
from depthstudio.portal.overrides import Overrides
from depthstudio.portal.portal_base import upsert_state, utcnow
from depthstudio.portal.results import ResultReads, ResultRow
from depthstudio.portal.reviews import DECISIONS, Reviews, current_reviewer
from depthstudio.portal.schema import reflect_users
from depthstudio.portal.settings_store import Settings
from depthstudio.portal.status import NEEDS_DEPTH, STATUSES

__all__ = [
    "DECISIONS",
    "NEEDS_DEPTH",
    "QA_FLAG_THRESHOLD",
    "SORTS",
    "STATUSES",
    "Portal",
    "Query",
    "ResultRow",
    "UserRow",
    "current_reviewer",
    "upsert_state",
    "utcnow",
]


class Portal(UserListing, ResultReads, Reviews, Overrides, Settings):
    """One portal database (plus depthstudio's tables in it). Thread-safe: every call takes its own connection."""

    @classmethod
    def open(cls, config: Config, *, engine: Engine | None = None, upgrade: bool = True) -> Portal:
        """Connect, reflect and check the users table, and bring depthstudio's tables to the current schema
        (``upgrade=False``, for read-only paths: only check it) — failing with a sentence naming what's wrong."""
        if engine is None:
            engine = portal_engine(config)
        try:
            users = reflect_users(engine, config.portal)
            migrate.ensure_current(engine, auto_upgrade=upgrade)
        except OperationalError as exc:
            raise unreachable(engine, exc, "the portal database") from None
        return cls(config, engine, users)

    def close(self) -> None:
        self.engine.dispose()
