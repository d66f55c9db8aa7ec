"""credentials: emails in one normal form with a plain unique index; invited users without a
password and their one-time links; the last login (which workspace a login picks); the token a
password change keeps; sen_auth reads workspace names (a login lists the others).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:30:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_UNKNOWN_PASSWORD = (
    "$argon2id$v=19$m=65536,t=3,p=4$wKtNibW6VISpM5Quw4gAFQ"
    "$oQyhU4NX7ZJtoMooJjuFrzCibZKVMjLrAVD9I/ut+UI"
)


def _normal(email: str) -> str:
    # app/core/schemas.py normalize_email as of this revision (migrations import nothing).
    once = unicodedata.normalize("NFKC", email).strip().lower()
    return unicodedata.normalize("NFKC", once)


def _normalize_stored_emails() -> None:
    """Rewrite emails into their normal form. Two rows of a workspace that become one address
    keep the older one's; the newer stays as typed (it stays unique) and is reported."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT workspace_id, id, email FROM users ORDER BY created_at, id")
    ).all()
    taken = {(row.workspace_id, row.email) for row in rows}
    for row in rows:
        normal = _normal(row.email)
        if normal == row.email:
            continue
        if (row.workspace_id, normal) in taken:
            print(f"users {row.id}: {row.email!r} kept as typed: {normal!r} is taken")
            continue
        taken.discard((row.workspace_id, row.email))
        taken.add((row.workspace_id, normal))
        connection.execute(
            sa.text("UPDATE users SET email = :email WHERE workspace_id = :ws AND id = :id"),
            {"email": normal, "ws": row.workspace_id, "id": row.id},
        )


def upgrade() -> None:
    _normalize_stored_emails()
    op.drop_index("uq_users_workspace_id_email", table_name="users")
    op.drop_index("ix_users_email_lower", table_name="users")
    op.create_unique_constraint(
        op.f("uq_users_workspace_id_email"), "users", ["workspace_id", "email"]
    )
    op.create_index("ix_users_email", "users", ["email"], unique=False)

    op.alter_column("users", "password_hash", existing_type=sa.String(length=255), nullable=True)
    op.add_column("users", sa.Column("kept_token_id", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("invitation_prefix", sa.String(length=16), nullable=True))
    op.add_column("users", sa.Column("invitation_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "users", sa.Column("invitation_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_users_invitation_prefix", "users", ["invitation_prefix"], unique=False)

    op.execute("GRANT SELECT (id, name) ON workspaces TO sen_auth")
    op.execute("CREATE POLICY credential_lookup ON workspaces FOR SELECT TO sen_auth USING (true)")


def downgrade() -> None:
    op.execute("DROP POLICY credential_lookup ON workspaces")
    op.execute("REVOKE SELECT (id, name) ON workspaces FROM sen_auth")

    op.drop_index("ix_users_invitation_prefix", table_name="users")
    op.drop_column("users", "invitation_expires_at")
    op.drop_column("users", "invitation_hash")
    op.drop_column("users", "invitation_prefix")
    op.drop_column("users", "last_login_at")
    op.drop_column("users", "kept_token_id")
    # An invited user who never chose a password gets one nobody knows (the hash of a random
    # secret thrown away when this was written): they still can't log in.
    op.execute(
        f"UPDATE users SET password_hash = '{_UNKNOWN_PASSWORD}' WHERE password_hash IS NULL"
    )
    op.alter_column("users", "password_hash", existing_type=sa.String(length=255), nullable=False)

    op.drop_index("ix_users_email", table_name="users")
    op.drop_constraint(op.f("uq_users_workspace_id_email"), "users", type_="unique")
    op.create_index("ix_users_email_lower", "users", [sa.text("lower(email)")], unique=False)
    op.create_index(
        "uq_users_workspace_id_email",
        "users",
        ["workspace_id", sa.text("lower(email)")],
        unique=True,
    )
