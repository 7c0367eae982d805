"""drop depthstudio_result_blobs.png16 and depthstudio_results.location: neither carries a fact any more

png16 has been NULL for every new result since results stopped storing their 16-bit map (nothing read it back;
``prune`` freed the old ones). ``location`` was "db" on insert and "pruned" once ``prune`` deleted the result's
blob row: the blob row's absence says the same.

Revision ID: 0007_28
Revises: 0006_13a
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_28"
down_revision = "0006_13a"
branch_labels = None
depends_on = None

_DROPPED = (("depthstudio_result_blobs", "png16"), ("depthstudio_results", "location"))


def upgrade() -> None:
    for table, column in _DROPPED:
        if op.get_bind().dialect.name == "sqlite":
            # SQLite's own DROP COLUMN (3.35+), not a batch copy: recreating a table would, with foreign keys on,
            # cascade-delete the rows that point at it (see 0003).
            op.execute(f'ALTER TABLE {table} DROP COLUMN "{column}"')
        else:
            op.drop_column(table, column)


def downgrade() -> None:
    with op.batch_alter_table("depthstudio_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("location", sa.Text(), server_default="db", nullable=False))
    with op.batch_alter_table("depthstudio_result_blobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("png16", sa.LargeBinary(), nullable=True))
    # What the blob rows' absence said: a result without its PNGs was pruned.
    op.execute(
        "UPDATE depthstudio_results SET location = 'pruned' WHERE id NOT IN "
        "(SELECT result_id FROM depthstudio_result_blobs)"
    )
