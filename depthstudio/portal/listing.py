"""Listing the users with their depth status: every list, search, filter, count and page is one SQL statement.

The status is a ``CASE`` over the users table joined (by primary key) to ``depthstudio_user_state`` and the job,
result and review it points to; what each status means on screen is ``portal.status``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Engine, String, and_, case, cast, func, literal, or_, select
from sqlalchemy.sql import Select

from depthstudio.config import Config
from depthstudio.errors import ConfigError
from depthstudio.portal.portal_base import PortalBase
from depthstudio.portal.reviews import Decision, current_review
from depthstudio.portal.schema import UsersTable
from depthstudio.portal.status import FLAGGED_ATTENTION, LAST_ATTENTION, NEEDS_DEPTH, STATUSES, Status
from depthstudio.portal.tables import jobs, photo_checks, results, reviews, user_state
from depthstudio.portal.vocabulary import JobStatus

SORTS = ("name", "recent", "attention", "risk")
QA_FLAG_THRESHOLD = 0.5  # qa_risk at or above this shows under the "QA-flagged" filter
# Statuses only a user with a depthstudio_user_state row can have (see _status_expr): a filter on them starts from
# that table, not from every portal user.
WITH_STATE = frozenset(
    {Status.QUEUED, Status.GENERATING, Status.FAILED, Status.STALE, Status.APPROVED, Status.REJECTED, Status.GENERATED}
)


@dataclass
class UserRow:
    id: str
    name: str | None
    avatar: str | None
    depth_url: str | None
    status: str
    job_id: int | None = None
    result_id: int | None = None
    error_kind: str | None = None
    error: str | None = None
    attempts: int = 0
    qa: dict[str, Any] | None = None
    qa_risk: float = 0.0
    backend: str | None = None
    model: str | None = None
    decision: str | None = None
    reviewer: str | None = None
    note: str | None = None
    reviewed_at: dt.datetime | None = None
    result_created_at: dt.datetime | None = None
    result_avatar: str | None = None


@dataclass
class Query:
    """A filtered view of the users: what the CLI flags and the studio's filter bar produce."""

    statuses: Sequence[str] = ()
    search: str = ""
    flagged: bool = False
    sort: str = "name"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [s for s in self.statuses if s not in STATUSES]
        if unknown:
            raise ConfigError(f"unknown status {', '.join(unknown)}; known: {', '.join(STATUSES)}")
        if self.sort not in SORTS:
            raise ConfigError(f"unknown sort {self.sort!r}; known: {', '.join(SORTS)}")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class UserListing(PortalBase):
    """The users as the CLI and the studio's list see them."""

    def __init__(self, config: Config, engine: Engine, users: UsersTable) -> None:
        super().__init__(config, engine, users)
        u = users
        self._uid = u.id if isinstance(u.id.type, String) else cast(u.id, String(255))
        self._s, self._j, self._r, self._v = (
            user_state.alias("s"),
            jobs.alias("j"),
            results.alias("r"),
            reviews.alias("v"),
        )
        self._pc = photo_checks.alias("pc")

    def _status_expr(self) -> ColumnElement[str]:
        u, j, r, v = self.users, self._j, self._r, self._v
        no_depth = or_(u.depth.is_(None), u.depth == "")
        return case(
            (or_(u.avatar.is_(None), u.avatar == ""), literal(Status.NO_PHOTO.value)),
            (j.c.status == JobStatus.QUEUED, literal(Status.QUEUED.value)),
            (j.c.status == JobStatus.RUNNING, literal(Status.GENERATING.value)),
            # A failure is about the photo the job was for; after a new upload the user needs a map again.
            (and_(j.c.status == JobStatus.FAILED, j.c.avatar_url == u.avatar), literal(Status.FAILED.value)),
            (and_(r.c.id.is_(None), no_depth), literal(Status.MISSING.value)),
            (r.c.id.is_(None), literal(Status.PUBLISHED.value)),  # a map the portal got elsewhere (the old daily job)
            (r.c.avatar_url != u.avatar, literal(Status.STALE.value)),
            # same URL, other bytes (photo_check.revalidate)
            (self._pc.c.changed_at.is_not(None), literal(Status.STALE.value)),
            (and_(r.c.published_url.is_not(None), u.depth == r.c.published_url), literal(Status.PUBLISHED.value)),
            (v.c.decision == Decision.APPROVED, literal(Status.APPROVED.value)),
            (v.c.decision == Decision.REJECTED, literal(Status.REJECTED.value)),
            else_=literal(Status.GENERATED.value),
        )

    def _base(self, *, state_only: bool = False) -> Select[Any]:
        """Every user with its status; ``state_only``: only users depthstudio has state for (an inner join, so
        the database walks the state table, not 100k users, for a filter such as "awaiting review")."""
        u, s, j, r, v = self.users, self._s, self._j, self._r, self._v
        first = u.table.join if state_only else u.table.outerjoin
        joined = (
            first(s, s.c.user_id == self._uid)
            .outerjoin(j, j.c.id == s.c.job_id)
            .outerjoin(r, r.c.id == s.c.result_id)
            .outerjoin(v, current_review(s, v))
            .outerjoin(self._pc, self._pc.c.result_id == s.c.result_id)
        )
        stmt = select(
            self._uid.label("id"),
            u.name.label("name"),
            u.avatar.label("avatar"),
            u.depth.label("depth_url"),
            self._status_expr().label("status"),
            j.c.id.label("job_id"),
            r.c.id.label("result_id"),
            j.c.error_kind.label("error_kind"),
            j.c.error.label("error"),
            func.coalesce(j.c.attempts, 0).label("attempts"),
            r.c.qa.label("qa"),
            func.coalesce(r.c.qa_risk, 0.0).label("qa_risk"),
            r.c.backend.label("backend"),
            r.c.model.label("model"),
            v.c.decision.label("decision"),
            v.c.reviewer.label("reviewer"),
            v.c.note.label("note"),
            v.c.created_at.label("reviewed_at"),
            r.c.created_at.label("result_created_at"),
            r.c.avatar_url.label("result_avatar"),
            func.coalesce(r.c.created_at, j.c.updated_at).label("activity"),
        ).select_from(joined)
        if state_only:
            # The same rows as the inner join alone; without statistics SQLite walked the 100k users and looked
            # each up in the state table; the IN makes it look up the few users with state instead.
            stmt = stmt.where(self._uid.in_(select(user_state.c.user_id)))
        return stmt

    def _stateless_status(self) -> ColumnElement[str]:
        """The status of a user depthstudio has no state row for: ``_status_expr`` with no job, result or review,
        so it reads the users table alone."""
        u = self.users
        return case(
            (or_(u.avatar.is_(None), u.avatar == ""), literal("no_photo")),
            (or_(u.depth.is_(None), u.depth == ""), literal("missing")),
            else_=literal("published"),
        )

    def _in_statuses(self, statuses: Sequence[str]) -> ColumnElement[bool]:
        """Whether a row of the users table has one of ``statuses``, without joining every user's state: the
        full status is computed only for the users with a state row (a few), the others' from their columns."""
        stated = self._base(state_only=True).subquery("stated")
        in_state = self._uid.in_(select(stated.c.id).where(stated.c.status.in_(list(statuses))))
        stateless = [st for st in statuses if st not in WITH_STATE]
        if not stateless:
            return in_state
        no_state = self._uid.not_in(select(user_state.c.user_id))
        return or_(in_state, and_(no_state, self._stateless_status().in_(stateless)))

    def _filtered(self, query: Query, *, with_status: bool = True) -> Any:
        needs_state = query.flagged or (with_status and bool(query.statuses) and set(query.statuses) <= WITH_STATE)
        sub = self._base(state_only=needs_state)
        if query.search:
            sub = sub.where(self.users.name.ilike(f"%{_escape_like(query.search)}%", escape="\\"))
        sub = sub.subquery("users_with_status")
        stmt = select(sub)
        if with_status and query.statuses:
            stmt = stmt.where(sub.c.status.in_(list(query.statuses)))
        if query.flagged:
            stmt = stmt.where(sub.c.qa_risk >= QA_FLAG_THRESHOLD)
        return stmt, sub

    def list_users(self, query: Query | None = None, *, offset: int = 0, limit: int = 100) -> list[UserRow]:
        query = query or Query()
        if query.sort == "name" and not query.flagged:
            return self._page_by_name(query, offset, limit)
        stmt, sub = self._filtered(query)
        if query.sort == "name":
            order = [sub.c.name, sub.c.id]
        elif query.sort == "recent":
            order = [sub.c.activity.desc().nulls_last(), sub.c.id]
        else:
            ranked = sorted(Status, key=lambda s: s.info.attention)
            attention = case(
                *((sub.c.status == s.value, s.info.attention) for s in ranked if s.info.attention < FLAGGED_ATTENTION),
                (sub.c.qa_risk >= QA_FLAG_THRESHOLD, FLAGGED_ATTENTION),
                *((sub.c.status == s.value, s.info.attention) for s in ranked if s.info.attention > FLAGGED_ATTENTION),
                else_=LAST_ATTENTION,
            )
            order = (
                [sub.c.qa_risk.desc(), sub.c.id]
                if query.sort == "risk"
                else [attention, sub.c.qa_risk.desc(), sub.c.name, sub.c.id]
            )
        stmt = stmt.order_by(*order).offset(offset).limit(limit)
        with self._connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [self._row(m) for m in rows]

    def _page_by_name(self, query: Query, offset: int, limit: int) -> list[UserRow]:
        """Users by name: the page's ids from the users table alone, then the status joins for those only.

        The same rows and order as the one-query form, without computing 100k statuses to keep 200 of them; a
        status filter is :meth:`_in_statuses` (the "Missing" chip matches most users of a big portal).
        """
        u = self.users
        page = select(self._uid.label("id"), u.name.label("name")).select_from(u.table)
        if query.search:
            page = page.where(u.name.ilike(f"%{_escape_like(query.search)}%", escape="\\"))
        if query.statuses:
            page = page.where(self._in_statuses(query.statuses))
        page = page.order_by(u.name, self._uid).offset(offset).limit(limit).subquery("page")
        sub = self._base().where(self._uid.in_(select(page.c.id))).subquery("users_with_status")
        stmt = select(sub).order_by(sub.c.name, sub.c.id)
        with self._connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [self._row(m) for m in rows]

    def count_users(self, query: Query | None = None) -> int:
        stmt, _ = self._filtered(query or Query())
        with self._connect() as conn:
            return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())

    def status_counts(self, query: Query | None = None) -> dict[str, int]:
        """Counts per status for the filter bar (search applies, the status filter itself does not)."""
        query = query or Query()
        _, sub = self._filtered(query, with_status=False)
        flag = func.sum(case((sub.c.qa_risk >= QA_FLAG_THRESHOLD, 1), else_=0))
        stmt = select(sub.c.status, func.count(), flag).group_by(sub.c.status)  # one pass over the users
        with self._connect() as conn:
            counts = {status: 0 for status in STATUSES}
            counts["flagged"] = 0
            for status, n, flagged in conn.execute(stmt).all():
                counts[status] = int(n)
                counts["flagged"] += int(flagged or 0)
        counts["all"] = sum(counts[s] for s in STATUSES)
        return counts

    def get_user(self, user_id: str) -> UserRow | None:
        stmt = self._base().where(self._uid == str(user_id))
        with self._connect() as conn:
            m = conn.execute(stmt).mappings().first()
        return self._row(m) if m else None

    def ids_needing_depth(
        self, *, include_failed: bool = False, include_active: bool = False, limit: int | None = None
    ) -> list[tuple[str, str]]:
        """(user id, avatar) of users to generate for, oldest id first; the job's selection, done in SQL.

        ``include_active`` adds users with a queued or running job, so that a run takes over the jobs a dead
        run left behind (the queue adopts only those no live worker holds)."""
        wanted = [*NEEDS_DEPTH, Status.FAILED] if include_failed else list(NEEDS_DEPTH)
        if include_active:
            wanted += [Status.QUEUED, Status.GENERATING]
        stmt, _ = self._filtered(Query(statuses=wanted))
        rows = stmt.subquery("needing")
        stmt = select(rows.c.id, rows.c.avatar).order_by(rows.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._connect() as conn:
            return [(str(i), str(a)) for i, a in conn.execute(stmt).all()]

    @staticmethod
    def _row(m: Any) -> UserRow:
        return UserRow(
            id=str(m["id"]),
            name=m["name"],
            avatar=m["avatar"],
            depth_url=m["depth_url"] or None,
            status=m["status"],
            job_id=m["job_id"],
            result_id=m["result_id"],
            error_kind=m["error_kind"] if m["status"] == Status.FAILED else None,
            error=m["error"] if m["status"] == Status.FAILED else None,
            attempts=int(m["attempts"] or 0),
            qa=m["qa"],
            qa_risk=float(m["qa_risk"] or 0.0),
            backend=m["backend"],
            model=m["model"],
            decision=m["decision"],
            reviewer=m["reviewer"],
            note=m["note"],
            reviewed_at=m["reviewed_at"],
            result_created_at=m["result_created_at"],
            result_avatar=m["result_avatar"],
        )
