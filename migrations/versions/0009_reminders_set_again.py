"""reminders set again: a reminder moved away and back to the same time is delivered again, so
notifications are no longer unique per activity and time (delivery's row lock and receipt keep
it to once per due time).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 08:31:20.549521
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(
        op.f("uq_notifications_workspace_id_activity_id_remind_at"), "notifications", type_="unique"
    )
    op.create_index(
        "ix_notifications_activity", "notifications", ["workspace_id", "activity_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_activity", table_name="notifications")
    op.create_unique_constraint(
        op.f("uq_notifications_workspace_id_activity_id_remind_at"),
        "notifications",
        ["workspace_id", "activity_id", "remind_at"],
    )
