"""lead conversion: what a lead became (its account, contact and deal) and when.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 07:32:39.665713
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("converted_account_id", sa.Uuid(), nullable=True))
    op.add_column("leads", sa.Column("converted_contact_id", sa.Uuid(), nullable=True))
    op.add_column("leads", sa.Column("converted_deal_id", sa.Uuid(), nullable=True))
    op.add_column("leads", sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_leads_workspace_id_converted_contact_id_contacts"),
        "leads",
        "contacts",
        ["workspace_id", "converted_contact_id"],
        ["workspace_id", "id"],
    )
    op.create_foreign_key(
        op.f("fk_leads_workspace_id_converted_account_id_accounts"),
        "leads",
        "accounts",
        ["workspace_id", "converted_account_id"],
        ["workspace_id", "id"],
    )
    op.create_foreign_key(
        op.f("fk_leads_workspace_id_converted_deal_id_deals"),
        "leads",
        "deals",
        ["workspace_id", "converted_deal_id"],
        ["workspace_id", "id"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_leads_workspace_id_converted_deal_id_deals"), "leads", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_leads_workspace_id_converted_account_id_accounts"), "leads", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_leads_workspace_id_converted_contact_id_contacts"), "leads", type_="foreignkey"
    )
    op.drop_column("leads", "converted_at")
    op.drop_column("leads", "converted_deal_id")
    op.drop_column("leads", "converted_contact_id")
    op.drop_column("leads", "converted_account_id")
