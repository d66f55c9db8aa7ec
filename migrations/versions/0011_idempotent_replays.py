"""idempotent replays: a stored response keeps the headers a replay repeats (ETag, Location)
and the records it is about, checked again on every replay.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:12:40.118204
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "idempotency_keys",
        sa.Column("records", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("idempotency_keys", "records")
    op.drop_column("idempotency_keys", "headers")
