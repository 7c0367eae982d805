"""photo checks: validators and the found-changed time of each result's photo, for re-validation by content

Revision ID: 0008_24
Revises: 0007_28
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_24"
down_revision = "0007_28"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "depthstudio_photo_checks",
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["depthstudio_results.id"],
            name=op.f("fk_depthstudio_photo_checks_result_id_depthstudio_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", name=op.f("pk_depthstudio_photo_checks")),
    )


def downgrade() -> None:
    op.drop_table("depthstudio_photo_checks")
