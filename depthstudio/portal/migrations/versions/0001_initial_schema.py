"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "depthstudio_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="generate", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("avatar_url", sa.Text(), nullable=False),
        sa.Column("backend", sa.String(length=64), nullable=False),
        sa.Column("publish", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("error_kind", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("batch", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depthstudio_jobs")),
    )
    with op.batch_alter_table("depthstudio_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_depthstudio_jobs_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_depthstudio_jobs_user_id", ["user_id"], unique=False)
        batch_op.create_index(
            "uq_depthstudio_jobs_active_user",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        )

    op.create_table(
        "depthstudio_overrides",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_depthstudio_overrides")),
    )
    op.create_table(
        "depthstudio_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=False),
        sa.Column("avatar_sha256", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("qa", sa.JSON(), nullable=True),
        sa.Column("qa_risk", sa.Float(), server_default="0", nullable=False),
        sa.Column("postprocess", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_url", sa.Text(), nullable=True),
        sa.Column("published_location", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depthstudio_results")),
    )
    with op.batch_alter_table("depthstudio_results", schema=None) as batch_op:
        batch_op.create_index("ix_depthstudio_results_user_id", ["user_id"], unique=False)

    op.create_table(
        "depthstudio_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_depthstudio_settings")),
    )
    op.create_table(
        "depthstudio_user_state",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_depthstudio_user_state")),
    )
    op.create_table(
        "depthstudio_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error_kind", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["depthstudio_jobs.id"],
            name=op.f("fk_depthstudio_attempts_job_id_depthstudio_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depthstudio_attempts")),
    )
    with op.batch_alter_table("depthstudio_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_depthstudio_attempts_job_id", ["job_id"], unique=False)

    op.create_table(
        "depthstudio_result_blobs",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("png8", sa.LargeBinary(), nullable=False),
        sa.Column("png16", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["depthstudio_results.id"],
            name=op.f("fk_depthstudio_result_blobs_result_id_depthstudio_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", name=op.f("pk_depthstudio_result_blobs")),
    )
    op.create_table(
        "depthstudio_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["depthstudio_results.id"],
            name=op.f("fk_depthstudio_reviews_result_id_depthstudio_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depthstudio_reviews")),
    )
    with op.batch_alter_table("depthstudio_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_depthstudio_reviews_result_id", ["result_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("depthstudio_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_depthstudio_reviews_result_id")

    op.drop_table("depthstudio_reviews")
    op.drop_table("depthstudio_result_blobs")
    with op.batch_alter_table("depthstudio_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_depthstudio_attempts_job_id")

    op.drop_table("depthstudio_attempts")
    op.drop_table("depthstudio_user_state")
    op.drop_table("depthstudio_settings")
    with op.batch_alter_table("depthstudio_results", schema=None) as batch_op:
        batch_op.drop_index("ix_depthstudio_results_user_id")

    op.drop_table("depthstudio_results")
    op.drop_table("depthstudio_overrides")
    with op.batch_alter_table("depthstudio_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_depthstudio_jobs_active_user",
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        )
        batch_op.drop_index("ix_depthstudio_jobs_user_id")
        batch_op.drop_index("ix_depthstudio_jobs_status_id")

    op.drop_table("depthstudio_jobs")
