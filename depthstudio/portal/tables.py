"""depthstudio's own tables (prefix ``depthstudio_``), living beside the portal's by default.

History tables (jobs, attempts, results, reviews) are append-mostly; ``depthstudio_user_state`` holds one row per
user with pointers to the current job, result and review, so that listing 100k users with their status is a
primary-key join instead of a per-user aggregate.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from depthstudio.portal.vocabulary import ACTIVE

PREFIX = "depthstudio_"
VERSION_TABLE = "depthstudio_alembic_version"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A user has at most one active job: the partial unique index below, over the statuses of ``ACTIVE``.
_ACTIVE_JOB = text(f"status IN ({', '.join(repr(str(status)) for status in ACTIVE)})")

jobs = Table(
    "depthstudio_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),  # a JobStatus
    Column("avatar_url", Text, nullable=False),
    Column("publish", Boolean, nullable=False, server_default=text("false")),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default="3"),
    Column("not_before", DateTime, nullable=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", DateTime, nullable=True),
    # The fencing token of the current claim: every transition checks it, so two claims never both pass.
    Column("lease_token", String(32), nullable=True),
    Column("error_kind", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("result_id", Integer, nullable=True),
    Column("batch", String(64), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_depthstudio_jobs_user_id", "user_id"),
    Index("ix_depthstudio_jobs_status_id", "status", "id"),
    Index(
        "uq_depthstudio_jobs_active_user",
        "user_id",
        unique=True,
        sqlite_where=_ACTIVE_JOB,
        postgresql_where=_ACTIVE_JOB,
    ),
)

attempts = Table(
    "depthstudio_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("depthstudio_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("worker", String(128), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("outcome", String(16), nullable=True),  # an AttemptOutcome; NULL while the attempt runs
    Column("error_kind", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_depthstudio_attempts_job_id", "job_id"),
)

results = Table(
    "depthstudio_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(255), nullable=False),
    Column("job_id", Integer, nullable=True),
    Column("avatar_url", Text, nullable=False),
    Column("avatar_sha256", String(64), nullable=False),
    Column("backend", String(64), nullable=False),
    Column("model", String(255), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("qa", JSON, nullable=True),
    Column("qa_risk", Float, nullable=False, server_default="0"),
    Column("postprocess", JSON, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("published_url", Text, nullable=True),
    Column("published_location", Text, nullable=True),
    Column("published_at", DateTime, nullable=True),
    Index("ix_depthstudio_results_user_id", "user_id"),
)

# PNG bytes apart from the result rows so that listing never drags megabytes along; in the database so that a
# worker on one machine and the studio on another see the same maps without a shared disk.
result_blobs = Table(
    "depthstudio_result_blobs",
    metadata,
    Column("result_id", Integer, ForeignKey("depthstudio_results.id", ondelete="CASCADE"), primary_key=True),
    Column("png8", LargeBinary, nullable=False),
    # The layered mode's background plate (RGB PNG) and matte (grey PNG); NULL for results made before 0003.
    Column("plate_png", LargeBinary, nullable=True),
    Column("matte_png", LargeBinary, nullable=True),
)

reviews = Table(
    "depthstudio_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("result_id", Integer, ForeignKey("depthstudio_results.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("decision", String(16), nullable=False),  # approved | rejected | cleared
    Column("reviewer", String(255), nullable=False),
    Column("note", Text, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Index("ix_depthstudio_reviews_result_id", "result_id"),
)

overrides = Table(
    "depthstudio_overrides",
    metadata,
    Column("user_id", String(255), primary_key=True),
    Column("params", JSON, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

settings = Table(
    "depthstudio_settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_by", String(255), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

user_state = Table(
    "depthstudio_user_state",
    metadata,
    Column("user_id", String(255), primary_key=True),
    Column("job_id", Integer, nullable=True),
    Column("result_id", Integer, nullable=True),
    Column("review_id", Integer, nullable=True),
    Column("updated_at", DateTime, nullable=False),
)

# The change feed's log on SQLite, written by triggers (migration 0005_12a); PostgreSQL's triggers NOTIFY instead.
changes = Table(
    "depthstudio_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(255), nullable=False),
)

# One row per portal write by the publisher: the value the column held before, so that a publish can be undone
# (compare-and-set back to ``previous``, only while the column still shows ``written``), and who undid it.
publications = Table(
    "depthstudio_publications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(255), nullable=False),
    Column("result_id", Integer, ForeignKey("depthstudio_results.id", ondelete="CASCADE"), nullable=False),
    Column("previous", Text, nullable=True),  # the portal's value before the write (NULL: it was empty)
    Column("written", Text, nullable=False),
    Column("published_at", DateTime, nullable=False),
    Column("previous_deleted", Boolean, nullable=False, server_default=text("false")),  # delete_superseded took it
    Column("undone_at", DateTime, nullable=True),
    Column("undone_by", String(255), nullable=True),
    Index("ix_depthstudio_publications_user_id", "user_id"),
)

# Photo identity by content after the map was made (depthstudio.jobs.photo_check.revalidate): per result, the
# validators to ask the photo's server with next time, when it was last asked, and when the photo was found changed
# in place (same URL, other bytes). A result with ``changed_at`` set is stale.
photo_checks = Table(
    "depthstudio_photo_checks",
    metadata,
    Column("result_id", Integer, ForeignKey("depthstudio_results.id", ondelete="CASCADE"), primary_key=True),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    Column("checked_at", DateTime, nullable=False),
    Column("changed_at", DateTime, nullable=True),
)
