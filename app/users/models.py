import uuid
from datetime import datetime

from sqlalchemy import Boolean, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import (
    Base,
    TenantMixin,
    TimestampMixin,
    VersionedMixin,
    referring_index,
    tenant_fk,
)


class Team(TenantMixin, TimestampMixin, VersionedMixin, Base):
    """A department; its members' records are visible to each other and to its manager."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(120))
    # A user of the workspace (the service checks it as it writes it), with no foreign key:
    # users.team_id points here, and Citus distributes no cycle of references (migration 0026).
    manager_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class User(TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        tenant_fk(["team_id"], "teams", name="fk_users_team"),
        referring_index("users", "team_id"),
        # Emails are stored in their normal form (app/core/schemas.py normalize_email), so the
        # index compares exactly what the code compares.
        UniqueConstraint("workspace_id", "email"),
        # Login looks a person up by email before the workspace is known.
        Index("ix_users_email", "email"),
        # So does a calendar app fetching a feed, by its token's prefix, and an invited user
        # opening their link.
        Index("ix_users_calendar_token_prefix", "calendar_token_prefix"),
        Index("ix_users_invitation_prefix", "invitation_prefix"),
    )

    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))
    # None until an invited user chooses one: such a user can't log in.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    role: Mapped[str] = mapped_column(String(16), default="sales")
    team_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Access tokens issued before this are refused (a new password, a deactivation) except
    # the one whose id is kept: the token the user changed their own password with.
    tokens_valid_after: Mapped[datetime | None] = mapped_column(default=None)
    kept_token_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Which workspace a login picks when the email has an account in several.
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # The calendar feed's token (shown once, kept hashed); a new one replaces it.
    calendar_token_prefix: Mapped[str | None] = mapped_column(String(16), default=None)
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # A one-time link's token for choosing a password (shown once to an admin, kept hashed).
    invitation_prefix: Mapped[str | None] = mapped_column(String(16), default=None)
    invitation_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    invitation_expires_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None
