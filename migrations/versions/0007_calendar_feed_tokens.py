"""calendar feed tokens: a user's token for the iCalendar feed, kept hashed, found by prefix.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 07:42:31.445748
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("calendar_token_prefix", sa.String(length=16), nullable=True))
    op.add_column("users", sa.Column("calendar_token_hash", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_users_calendar_token_prefix", "users", ["calendar_token_prefix"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_users_calendar_token_prefix", table_name="users")
    op.drop_column("users", "calendar_token_hash")
    op.drop_column("users", "calendar_token_prefix")
