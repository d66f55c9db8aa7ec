import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, SmallInteger, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, TenantMixin, referring_index, tenant_fk, utcnow


class Submission(TenantMixin, Base):
    """One lead as a source sent it (a form post, an ad platform's webhook), stored before it
    is acknowledged, and what became of it. The queue only says there is work (DESIGN §7)."""

    __tablename__ = "submissions"
    __table_args__ = (
        tenant_fk(["form_id"], "forms"),
        tenant_fk(["integration_id"], "integrations"),
        tenant_fk(["lead_id"], "leads"),
        referring_index("submissions", "lead_id"),
        Index("ix_submissions_recent", "workspace_id", "received_at", "id"),
        Index("ix_submissions_status", "workspace_id", "status", "received_at", "id"),
        Index("ix_submissions_form", "workspace_id", "form_id", "received_at", "id"),
        Index("ix_submissions_integration", "workspace_id", "integration_id", "received_at", "id"),
        # A platform's lead id, delivered again (platforms retry and batch), is the same
        # submission: one row per integration and external id.
        Index(
            "uq_submissions_external",
            "workspace_id",
            "integration_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        # The sweep's question, in every workspace: what is still waiting, and since when.
        Index(
            "ix_submissions_waiting",
            "workspace_id",
            "received_at",
            postgresql_where=text("status = 'received'"),
        ),
        # Pruning raw payloads: the oldest still kept.
        Index(
            "ix_submissions_payload_kept",
            "workspace_id",
            "received_at",
            postgresql_where=text("payload IS NOT NULL"),
        ),
    )

    provider: Mapped[str] = mapped_column(String(12))  # form, meta, google, tiktok, generic
    form_id: Mapped[uuid.UUID | None]
    integration_id: Mapped[uuid.UUID | None]
    # The platform's own id for the lead (Meta's leadgen id, Google's lead_id, …).
    external_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="received")
    # What was sent, as parsed (field -> value); None once pruned.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    # Where it came from: query string, client address, origin, user agent.
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lead_id: Mapped[uuid.UUID | None]
    # A duplicate points at the lead or contact the person already was.
    duplicate_of_type: Mapped[str | None] = mapped_column(String(8))
    duplicate_of_id: Mapped[uuid.UUID | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    # A source that failed for now (Meta's Graph API down or slow): tries failed in a row
    # since it was received or replayed, and when the next one is due (the sweep waits too).
    retries: Mapped[int] = mapped_column(SmallInteger, default=0)
    retry_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
