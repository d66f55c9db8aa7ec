import uuid
from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, TenantMixin, referring_index, tenant_fk, utcnow


class ApiKey(TenantMixin, Base):
    """An integrator's key: shown once, stored as a hash, found by its public prefix."""

    __tablename__ = "api_keys"
    __table_args__ = (
        tenant_fk(["user_id"], "users"),
        referring_index("api_keys", "user_id", nullable=False),
        UniqueConstraint("workspace_id", "prefix"),
        # Found by prefix before the workspace is known; the prefix is random, so clashes are
        # vanishingly rare and the hash check settles them.
        Index("ix_api_keys_prefix", "prefix"),
    )

    user_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
