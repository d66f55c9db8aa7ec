import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, SmallInteger, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, RecordMixin, TenantMixin, TimestampMixin, tenant_fk


class Webhook(RecordMixin, Base):
    """An outbound subscription: where Sen posts the events it names, signed with its secret
    (Standard Webhooks). Switched off by a 410 from its receiver; flagged `failing_since` when a
    delivery ran out of retries, until one gets through again."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_recent", "workspace_id", "created_at", "id"),)

    url: Mapped[str] = mapped_column(String(2000))
    # Event types (`lead.created`), a resource's every event (`lead.*`) or every event (`*`).
    events: Mapped[list[str]] = mapped_column(ARRAY(String(80)))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(500))
    # `whsec_` + base64 of 32 random bytes; shown once when made, never read back.
    secret: Mapped[str] = mapped_column(String(100))
    failing_since: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(500))


class WebhookDelivery(TenantMixin, TimestampMixin, Base):
    """One event for one webhook: the message as it is sent on every attempt (the same
    `webhook-id` and body each time), where it stands and how its last attempt went. At most
    one per (webhook, event): an event handed over twice adds nothing."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        tenant_fk(["webhook_id"], "webhooks"),
        UniqueConstraint("workspace_id", "webhook_id", "event_id"),
        Index("ix_webhook_deliveries_recent", "workspace_id", "webhook_id", "created_at", "id"),
        # The sweep's question: which deliveries are due and maybe lost their nudge.
        Index(
            "ix_webhook_deliveries_due",
            "workspace_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    webhook_id: Mapped[uuid.UUID]
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(80))
    message_id: Mapped[str] = mapped_column(String(64))  # `webhook-id`, the same on every try
    payload: Mapped[dict[str, Any]]  # the body: {type, timestamp, data}
    status: Mapped[str] = mapped_column(String(10), default="pending")  # delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Failed attempts since it was (re)delivered: where it stands in the retry schedule.
    failures: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_response_body: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
