"""publications: the portal value before each publish, so that a publish can be undone

Revision ID: 0006_13a
Revises: 0005_12a
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_13a"
down_revision = "0005_12a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "depthstudio_publications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("result_id", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Text(), nullable=True),
        sa.Column("written", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("previous_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("undone_at", sa.DateTime(), nullable=True),
        sa.Column("undone_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["depthstudio_results.id"],
            name=op.f("fk_depthstudio_publications_result_id_depthstudio_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depthstudio_publications")),
    )
    with op.batch_alter_table("depthstudio_publications", schema=None) as batch_op:
        batch_op.create_index("ix_depthstudio_publications_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("depthstudio_publications", schema=None) as batch_op:
        batch_op.drop_index("ix_depthstudio_publications_user_id")
    op.drop_table("depthstudio_publications")
