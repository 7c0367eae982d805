"""The portal repository: users with their depth status, reviews and shader overrides.

Every list, search, filter, count and page is one SQL statement: the status is a ``CASE`` over the users table
joined (by primary key) to ``depthstudio_user_state`` and the job, result and review it points to.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Select

from depthstudio.config import Config
from depthstudio.errors import ConfigError, PortalError
from depthstudio.portal import migrate
from depthstudio.portal.engine import make_engine, writer
from depthstudio.portal.schema import UsersTable, reflect_users
from depthstudio.portal.tables import (
    FAILED,
    QUEUED,
    RUNNING,
    jobs,
    overrides,
    result_blobs,
    results,
    reviews,
    settings,
    user_state,
)

# The statuses a user can be in, in the order the UI shows its filters.
STATUSES = (
    "missing",
    "queued",
    "generating",
    "generated",
    "approved",
    "rejected",
    "published",
    "stale",
    "failed",
    "no_photo",
)
NEEDS_DEPTH = ("missing", "stale")
DECISIONS = ("approved", "rejected", "cleared")
SORTS = ("name", "recent", "attention", "risk")
QA_FLAG_THRESHOLD = 0.5  # qa_risk at or above this shows under the "QA-flagged" filter


def utcnow() -> dt.datetime:
    """Naive UTC, the one time base for every timestamp depthstudio writes (leases compare across machines)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def current_reviewer(config: Config) -> str:
    if config.studio.reviewer:
        return config.studio.reviewer
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


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
class ResultRow:
    id: int
    user_id: str
    job_id: int | None
    avatar_url: str
    avatar_sha256: str
    backend: str
    model: str
    width: int
    height: int
    qa: dict[str, Any] | None
    qa_risk: float
    postprocess: dict[str, Any] | None
    created_at: dt.datetime
    published_url: str | None
    published_location: str | None
    published_at: dt.datetime | None


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


def _upsert(conn: Connection, table: Any, conflict: str, /, **values: Any) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE: concurrent writers of one row never hit a duplicate key."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = module.insert(table).values(values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c[conflict]], set_={k: stmt.excluded[k] for k in values if k != conflict}
        )
    )


def upsert_state(conn: Connection, user_id: str, **pointers: int | None) -> None:
    """Move one user's pointers (job_id / result_id / review_id) in the caller's transaction."""
    upsert_states(conn, [{"user_id": user_id, **pointers}])


def upsert_states(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Move many users' pointers in one statement; every row names the same pointers (and its ``user_id``)."""
    if not rows:
        return
    now = utcnow()
    stmt = _upsert_states_sql(conn.dialect.name, tuple(k for k in rows[0] if k != "user_id"))
    conn.execute(stmt, [{**row, "updated_at": now} for row in rows])


@functools.cache
def _upsert_states_sql(dialect: str, pointers: tuple[str, ...]) -> Any:
    """Built once per dialect and set of pointers: building and hashing it per call cost more than running it."""
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(user_state)
    keys = [*pointers, "updated_at"]
    return stmt.on_conflict_do_update(index_elements=[user_state.c.user_id], set_={k: stmt.excluded[k] for k in keys})


class Portal:
    """One portal database (plus depthstudio's tables in it). Thread-safe: every call takes its own connection."""

    def __init__(self, config: Config, engine: Engine, users: UsersTable) -> None:
        self.config = config
        self.engine = engine
        self.users = users
        u = users
        self._uid = u.id if isinstance(u.id.type, String) else cast(u.id, String(255))
        self._s, self._j, self._r, self._v = (
            user_state.alias("s"),
            jobs.alias("j"),
            results.alias("r"),
            reviews.alias("v"),
        )

    # --- opening ------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, config: Config, *, engine: Engine | None = None, upgrade: bool = True) -> Portal:
        """Connect, reflect and check the users table, and bring depthstudio's tables to the current schema
        (``upgrade=False``, for read-only paths: only check it) — failing with a sentence naming what's wrong."""
        if config.studio.url and config.studio.url != config.portal_url():
            raise ConfigError(
                "a studio database separate from the portal's is not supported: statuses are computed by "
                "joining the portal's users with depthstudio's tables in one query. Leave [studio] url empty."
            )
        if engine is None:
            if config.is_demo:
                from depthstudio.portal.demo import ensure_demo_portal

                ensure_demo_portal(config.demo_portal_path())
            engine = make_engine(
                config.portal_url(),
                connect_timeout_s=config.portal.connect_timeout_s,
                statement_timeout_s=config.portal.statement_timeout_s,
            )
        try:
            users = reflect_users(engine, config.portal)
            migrate.ensure_current(engine, auto_upgrade=upgrade)
        except OperationalError as exc:
            where = f" at {engine.url.host}:{engine.url.port or 5432}" if engine.url.host else ""
            raise PortalError(
                f"cannot use the portal database{where}: {exc.orig}", kind="unreachable", transient=True
            ) from None
        return cls(config, engine, users)

    def close(self) -> None:
        self.engine.dispose()

    # --- listing ------------------------------------------------------------------------------------------

    def _status_expr(self) -> ColumnElement[str]:
        u, j, r, v = self.users, self._j, self._r, self._v
        no_depth = or_(u.depth.is_(None), u.depth == "")
        return case(
            (or_(u.avatar.is_(None), u.avatar == ""), literal("no_photo")),
            (j.c.status == QUEUED, literal("queued")),
            (j.c.status == RUNNING, literal("generating")),
            # A failure is about the photo the job was for; after a new upload the user needs a map again.
            (and_(j.c.status == FAILED, j.c.avatar_url == u.avatar), literal("failed")),
            (and_(r.c.id.is_(None), no_depth), literal("missing")),
            (r.c.id.is_(None), literal("published")),  # a map the portal got elsewhere (the old daily job)
            (r.c.avatar_url != u.avatar, literal("stale")),
            (and_(r.c.published_url.is_not(None), u.depth == r.c.published_url), literal("published")),
            (v.c.decision == "approved", literal("approved")),
            (v.c.decision == "rejected", literal("rejected")),
            else_=literal("generated"),
        )

    def _base(self) -> Select[Any]:
        u, s, j, r, v = self.users, self._s, self._j, self._r, self._v
        joined = (
            u.table.outerjoin(s, s.c.user_id == self._uid)
            .outerjoin(j, j.c.id == s.c.job_id)
            .outerjoin(r, r.c.id == s.c.result_id)
            # A decision counts only for the result it was made on (a regeneration in between voids it).
            .outerjoin(v, and_(v.c.id == s.c.review_id, v.c.result_id == s.c.result_id))
        )
        return select(
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

    def _filtered(self, query: Query, *, with_status: bool = True) -> Any:
        sub = self._base()
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
        stmt, sub = self._filtered(query)
        if query.sort == "name":
            order = [sub.c.name, sub.c.id]
        elif query.sort == "recent":
            order = [sub.c.activity.desc().nulls_last(), sub.c.id]
        else:
            attention = case(
                (sub.c.status == "failed", 0),
                (sub.c.status == "stale", 1),
                (sub.c.status == "generated", 2),
                else_=3,
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

    def count_users(self, query: Query | None = None) -> int:
        stmt, _ = self._filtered(query or Query())
        with self._connect() as conn:
            return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())

    def status_counts(self, query: Query | None = None) -> dict[str, int]:
        """Counts per status for the filter bar (search applies, the status filter itself does not)."""
        query = query or Query()
        _, sub = self._filtered(query, with_status=False)
        stmt = select(sub.c.status, func.count()).group_by(sub.c.status)
        flagged = select(func.count()).select_from(sub).where(sub.c.qa_risk >= QA_FLAG_THRESHOLD)
        with self._connect() as conn:
            counts = {status: 0 for status in STATUSES}
            counts.update({s: int(n) for s, n in conn.execute(stmt).all()})
            counts["flagged"] = int(conn.execute(flagged).scalar_one())
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
        wanted = [*NEEDS_DEPTH, "failed"] if include_failed else list(NEEDS_DEPTH)
        if include_active:
            wanted += ["queued", "generating"]
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
            error_kind=m["error_kind"] if m["status"] == "failed" else None,
            error=m["error"] if m["status"] == "failed" else None,
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

    # --- results ------------------------------------------------------------------------------------------

    def result(self, result_id: int) -> ResultRow | None:
        with self._connect() as conn:
            m = conn.execute(select(results).where(results.c.id == result_id)).mappings().first()
        return ResultRow(**{k: m[k] for k in ResultRow.__dataclass_fields__}) if m else None

    def results_for_user(self, user_id: str) -> list[ResultRow]:
        with self._connect() as conn:
            rows = conn.execute(
                select(results).where(results.c.user_id == str(user_id)).order_by(results.c.id.desc())
            ).mappings()
            return [ResultRow(**{k: m[k] for k in ResultRow.__dataclass_fields__}) for m in rows]

    def result_png(self, result_id: int, *, bits: int = 8) -> bytes | None:
        col = result_blobs.c.png16 if bits == 16 else result_blobs.c.png8
        with self._connect() as conn:
            return conn.execute(select(col).where(result_blobs.c.result_id == result_id)).scalar_one_or_none()

    # --- review -------------------------------------------------------------------------------------------

    def decide(
        self,
        user_ids: Iterable[str],
        decision: str,
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
                upsert_state(conn, str(user_id), review_id=None if decision == "cleared" else review_id)
                applied.append(str(user_id))
        return applied

    def review_history(self, user_id: str) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                select(reviews).where(reviews.c.user_id == str(user_id)).order_by(reviews.c.id.desc())
            ).mappings()
            return [dict(m) for m in rows]

    # --- shader parameters --------------------------------------------------------------------------------

    def get_overrides(self, user_id: str) -> dict[str, Any]:
        with self._connect() as conn:
            value = conn.execute(
                select(overrides.c.params).where(overrides.c.user_id == str(user_id))
            ).scalar_one_or_none()
        return dict(value or {})

    def set_overrides(self, user_ids: Iterable[str], params: dict[str, Any], *, by: str) -> None:
        """Empty ``params`` removes the override (the user follows the global defaults again)."""
        now = utcnow()
        with self.engine.begin() as conn:
            for user_id in user_ids:
                if params:
                    _upsert(
                        conn,
                        overrides,
                        "user_id",
                        user_id=str(user_id),
                        params=dict(params),
                        updated_by=by,
                        updated_at=now,
                    )
                else:
                    conn.execute(delete(overrides).where(overrides.c.user_id == str(user_id)))

    def get_setting(self, key: str) -> Any:
        with self._connect() as conn:
            return conn.execute(select(settings.c.value).where(settings.c.key == key)).scalar_one_or_none()

    def set_setting(self, key: str, value: Any, *, by: str) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, settings, "key", key=key, value=value, updated_by=by, updated_at=utcnow())

    # --- plumbing -----------------------------------------------------------------------------------------

    def _connect(self) -> Connection:
        try:
            return self.engine.connect()
        except OperationalError as exc:
            raise PortalError(
                f"lost the connection to the portal database: {exc.orig}", kind="unreachable", transient=True
            ) from None
