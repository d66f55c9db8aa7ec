import uuid
from datetime import datetime

from sqlalchemy import Boolean, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, TenantMixin, TimestampMixin, VersionedMixin, tenant_fk


class Team(TenantMixin, TimestampMixin, VersionedMixin, Base):
    """A department; its members' records are visible to each other and to its manager."""

    __tablename__ = "teams"
    __table_args__ = (
        tenant_fk(["manager_id"], "users", name="fk_teams_manager", use_alter=True),
        UniqueConstraint("workspace_id", "name"),
    )

    name: Mapped[str] = mapped_column(String(120))
    manager_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class User(TenantMixin, TimestampMixin, VersionedMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        tenant_fk(["team_id"], "teams", name="fk_users_team"),
        Index("uq_users_workspace_id_email", "workspace_id", text("lower(email)"), unique=True),
        # Login looks a person up by email before the workspace is known.
        Index("ix_users_email_lower", text("lower(email)")),
        # So does a calendar app fetching a feed, by its token's prefix.
        Index("ix_users_calendar_token_prefix", "calendar_token_prefix"),
    )

    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="sales")
    team_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Access tokens issued before this are refused (set when the password changes).
    tokens_valid_after: Mapped[datetime | None] = mapped_column(default=None)
    # The calendar feed's token (shown once, kept hashed); a new one replaces it.
    calendar_token_prefix: Mapped[str | None] = mapped_column(String(16), default=None)
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), default=None)
