"""events: the domain-event outbox (app/core/events.py). Every change writes its event in its own
transaction; the dispatcher numbers them in commit order (`position`) and hands them on.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"


def _secure(table: str) -> None:
    # As 0017 does for its tables (a migration is frozen history: it imports no other one).
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO sen_app")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    wall = f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(
        f"CREATE POLICY workspace_wall ON {table} TO sen_app USING ({wall}) WITH CHECK ({wall})"
    )


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("resource", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column("automation_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_events_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_position", "events", ["workspace_id", "position"], unique=True)
    op.create_index(
        "ix_events_undispatched",
        "events",
        ["workspace_id", "id"],
        unique=False,
        postgresql_where=sa.text("position IS NULL"),
    )
    op.create_index("ix_events_record", "events", ["workspace_id", "record_id", "position"])
    op.create_index("ix_events_type", "events", ["workspace_id", "type", "position"])
    op.create_index("ix_events_resource", "events", ["workspace_id", "resource", "position"])
    _secure("events")


def downgrade() -> None:
    op.drop_table("events")
