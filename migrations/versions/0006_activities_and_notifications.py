"""activities (with their reminders) and users' notifications, behind the workspace wall.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 07:37:50.361163
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"


def _secure(table: str) -> None:
    # As 0001 does for its tables (a migration is frozen history: it imports no other one).
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO sen_app")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    wall = f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(
        f"CREATE POLICY workspace_wall ON {table} TO sen_app USING ({wall}) WITH CHECK ({wall})"
    )


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("participants", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("related_type", sa.String(length=8), nullable=False),
        sa.Column("related_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "owner_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_activities_workspace_id_owner_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_activities_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_activities")),
    )
    op.create_index(
        "ix_activities_due",
        "activities",
        ["workspace_id", "owner_id", "due_at"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_activities_participants",
        "activities",
        ["participants"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_activities_recent",
        "activities",
        ["workspace_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_activities_related",
        "activities",
        ["workspace_id", "related_type", "related_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_activities_reminders_pending",
        "activities",
        ["remind_at"],
        unique=False,
        postgresql_where=sa.text("reminded_at IS NULL AND NOT completed AND deleted_at IS NULL"),
    )
    op.create_table(
        "notifications",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "activity_id"],
            ["activities.workspace_id", "activities.id"],
            name=op.f("fk_notifications_workspace_id_activity_id_activities"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "user_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_notifications_workspace_id_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_notifications_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "workspace_id",
            "activity_id",
            "remind_at",
            name=op.f("uq_notifications_workspace_id_activity_id_remind_at"),
        ),
    )
    op.create_index(
        "ix_notifications_inbox",
        "notifications",
        ["workspace_id", "user_id", "read_at", "created_at"],
        unique=False,
    )
    _secure("activities")
    _secure("notifications")


def downgrade() -> None:
    op.drop_index("ix_notifications_inbox", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(
        "ix_activities_reminders_pending",
        table_name="activities",
        postgresql_where=sa.text("reminded_at IS NULL AND NOT completed AND deleted_at IS NULL"),
    )
    op.drop_index("ix_activities_related", table_name="activities")
    op.drop_index(
        "ix_activities_recent",
        table_name="activities",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index("ix_activities_participants", table_name="activities", postgresql_using="gin")
    op.drop_index(
        "ix_activities_due", table_name="activities", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_table("activities")
