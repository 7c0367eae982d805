"""layered mode: the background plate and matte stored with each result, beside its depth PNGs

Revision ID: 0004_14
Revises: 0003_15a
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_14"
down_revision = "0003_15a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("depthstudio_result_blobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plate_png", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("matte_png", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("depthstudio_result_blobs", schema=None) as batch_op:
        batch_op.drop_column("matte_png")
        batch_op.drop_column("plate_png")
