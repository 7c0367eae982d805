"""Review decisions: who decided what on which result, audited (every decision is a new row)."""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, select

from depthstudio.config import Config
from depthstudio.errors import ConfigError
from depthstudio.portal.engine import writer
from depthstudio.portal.portal_base import PortalBase, upsert_state, utcnow
from depthstudio.portal.tables import reviews, user_state


class Decision(StrEnum):
    """What a review-history row records; the values are the strings stored in ``depthstudio_reviews.decision``."""

    APPROVED = "approved"
    REJECTED = "rejected"
    CLEARED = "cleared"  # back to awaiting review (an undo in the studio, ``review --clear``)
    UNPUBLISHED = "unpublished"  # a publish undone (depthstudio.jobs.unpublish); the result awaits review again


# What a reviewer may decide; an "unpublished" entry is only ever written by the undo of a publish.
DECISIONS = (Decision.APPROVED, Decision.REJECTED, Decision.CLEARED)


def current_review(state: FromClause, review: FromClause) -> ColumnElement[bool]:
    """Joins a user's state row to the decision on its current result: a decision counts only for the result it
    was made on (a regeneration in between voids it). The listing's statuses and the publisher's check share it."""
    return and_(review.c.id == state.c.review_id, review.c.result_id == state.c.result_id)


def current_reviewer(config: Config) -> str:
    if config.studio.reviewer:
        return config.studio.reviewer
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


class Reviews(PortalBase):
    def decide(
        self,
        user_ids: Iterable[str],
        decision: Decision | str,
        *,
        reviewer: str,
        note: str | None = None,
        expected: Mapping[str, int] | None = None,
    ) -> list[str]:
        """Record a decision on each user's current result; returns the users it applied to (those with one).

        ``expected`` maps users to the result the reviewer was shown: a user whose current result is another
        one by now (regenerated meanwhile) is skipped, so no decision lands on a map nobody looked at.
        """
        if decision not in DECISIONS:
            raise ConfigError(f"unknown decision {decision!r}; use one of {', '.join(DECISIONS)}")
        decision = Decision(decision)
        applied: list[str] = []
        now = utcnow()
        with writer(self.engine).begin() as conn:
            for user_id in user_ids:
                result_id = conn.execute(
                    select(user_state.c.result_id).where(user_state.c.user_id == str(user_id))
                ).scalar_one_or_none()
                if result_id is None or (expected is not None and expected.get(str(user_id), result_id) != result_id):
                    continue
                review_id = conn.execute(
                    reviews.insert()
                    .values(
                        result_id=result_id,
                        user_id=str(user_id),
                        decision=decision,
                        reviewer=reviewer,
                        note=note or None,
                        created_at=now,
                    )
                    .returning(reviews.c.id)
                ).scalar_one()
                upsert_state(conn, str(user_id), review_id=None if decision == Decision.CLEARED else review_id)
                applied.append(str(user_id))
        return applied

    def review_history(self, user_id: str) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                select(reviews).where(reviews.c.user_id == str(user_id)).order_by(reviews.c.id.desc())
            ).mappings()
            return [dict(m) for m in rows]
