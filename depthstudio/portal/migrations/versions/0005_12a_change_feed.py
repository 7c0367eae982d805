"""change feed: triggers that announce every user whose state moved (decision, new result, publish)

On PostgreSQL the trigger sends NOTIFY depthstudio_changes (payload: the user id), which is delivered at the
commit of the very transaction that made the change and never for one that rolled back. SQLite has no
notifications: the triggers append to depthstudio_changes, which the studio polls when PRAGMA data_version
says another connection committed; the newest 10,000 entries are kept.

Revision ID: 0005_12a
Revises: 0004_14
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_12a"
down_revision = "0004_14"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION depthstudio_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('depthstudio_changes', NEW.user_id);
    RETURN NULL;
END
$$
"""
_SQLITE_BODY = """
BEGIN
    INSERT INTO depthstudio_changes (user_id) VALUES (NEW.user_id);
    DELETE FROM depthstudio_changes WHERE id <= last_insert_rowid() - 10000;
END
"""
_SQLITE_TRIGGERS = {
    "depthstudio_user_state_inserted": "AFTER INSERT ON depthstudio_user_state",
    "depthstudio_user_state_updated": "AFTER UPDATE ON depthstudio_user_state",
    "depthstudio_results_published": "AFTER UPDATE OF published_url ON depthstudio_results",
}


def upgrade() -> None:
    op.create_table(
        "depthstudio_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depthstudio_changes")),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER depthstudio_user_state_changed AFTER INSERT OR UPDATE ON depthstudio_user_state "
            "FOR EACH ROW EXECUTE FUNCTION depthstudio_note_change()"
        )
        op.execute(
            "CREATE TRIGGER depthstudio_results_published AFTER UPDATE OF published_url ON depthstudio_results "
            "FOR EACH ROW EXECUTE FUNCTION depthstudio_note_change()"
        )
    else:
        for name, when in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} FOR EACH ROW {_SQLITE_BODY}")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS depthstudio_user_state_changed ON depthstudio_user_state")
        op.execute("DROP TRIGGER IF EXISTS depthstudio_results_published ON depthstudio_results")
        op.execute("DROP FUNCTION IF EXISTS depthstudio_note_change()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("depthstudio_changes")
