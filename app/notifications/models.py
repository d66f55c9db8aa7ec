import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, TenantMixin, referring_index, tenant_fk, utcnow


class Notification(TenantMixin, Base):
    """Something a user should know about, in their inbox until they read it."""

    __tablename__ = "notifications"
    __table_args__ = (
        tenant_fk(["user_id"], "users"),
        tenant_fk(["activity_id"], "activities"),
        tenant_fk(["lead_id"], "leads"),
        referring_index("notifications", "lead_id"),
        Index("ix_notifications_activity", "workspace_id", "activity_id"),
        Index("ix_notifications_inbox", "workspace_id", "user_id", "read_at", "created_at"),
    )

    user_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    activity_id: Mapped[uuid.UUID | None]
    remind_at: Mapped[datetime | None]
    lead_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
