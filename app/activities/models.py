import uuid
from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import (
    Base,
    RecordMixin,
    tenant_fk,
)

_LIVE = text("deleted_at IS NULL")


class Activity(RecordMixin, Base):
    """A call, email, meeting, note or task about one lead, contact, account or deal."""

    __tablename__ = "activities"
    __table_args__ = (
        tenant_fk(["owner_id"], "users"),
        # Every sort is an index walk, deleted rows included (`include_deleted`).
        Index("ix_activities_recent", "workspace_id", "created_at", "id"),
        Index("ix_activities_updated", "workspace_id", "updated_at", "id"),
        # A record's timeline: its activities newest first.
        Index(
            "ix_activities_related",
            "workspace_id",
            "related_type",
            "related_id",
            "created_at",
            "id",
        ),
        # Calendars: what is due in a range, per owner.
        Index("ix_activities_due", "workspace_id", "owner_id", "due_at", postgresql_where=_LIVE),
        Index("ix_activities_participants", "participants", postgresql_using="gin"),
        # The reminder sweep: reminders due and not yet delivered, across workspaces.
        Index(
            "ix_activities_reminders_pending",
            "remind_at",
            postgresql_where=text("reminded_at IS NULL AND NOT completed AND deleted_at IS NULL"),
        ),
    )

    type: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(200))
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    # When the reminder for the current remind_at became a notification (null: not yet).
    reminded_at: Mapped[datetime | None]
    owner_id: Mapped[uuid.UUID | None]
    # Users taking part besides the owner (a meeting's attendees); their calendars show it too.
    participants: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    related_type: Mapped[str] = mapped_column(String(8))
    related_id: Mapped[uuid.UUID]
