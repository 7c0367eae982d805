"""drop depthstudio_jobs.kind and .backend: written on every enqueue, read by nothing

Every job was kind "generate"; the backend that ran is recorded on the result (``depthstudio_results.backend``),
which is what the studio and the CLI show.

Revision ID: 0003_15a
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_15a"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = ("kind", "backend")


def upgrade() -> None:
    for column in _COLUMNS:
        if op.get_bind().dialect.name == "sqlite":
            # SQLite's own DROP COLUMN (3.35+), not a batch copy: recreating the table would, with foreign keys on,
            # cascade-delete every attempt row when the old table is dropped.
            op.execute(f'ALTER TABLE depthstudio_jobs DROP COLUMN "{column}"')
        else:
            op.drop_column("depthstudio_jobs", column)


def downgrade() -> None:
    with op.batch_alter_table("depthstudio_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="generate", nullable=False))
        batch_op.add_column(sa.Column("backend", sa.String(length=64), server_default="unknown", nullable=False))
