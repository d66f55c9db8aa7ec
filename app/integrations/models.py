import uuid
from typing import Any

from sqlalchemy import Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, RecordMixin, referring_index, tenant_fk


class Integration(RecordMixin, Base):
    """A connection to an ad platform (Meta Lead Ads, Google Ads lead forms, TikTok) or any
    other source that signs its webhooks: its provider, its secrets and field mapping
    (`config`), and the campaign its leads join."""

    __tablename__ = "integrations"
    __table_args__ = (
        tenant_fk(["campaign_id"], "campaigns"),
        referring_index("integrations", "campaign_id"),
        # A webhook names the integration by id before the workspace is known (as sen_auth).
        Index("ix_integrations_id", "id", "workspace_id"),
        Index("ix_integrations_recent", "workspace_id", "created_at", "id"),
        Index("ix_integrations_name", "workspace_id", "name", "id"),
    )

    provider: Mapped[str] = mapped_column(String(12))  # meta, google, tiktok, generic
    name: Mapped[str] = mapped_column(String(200))
    # The provider's settings, secrets included (never read back through the API).
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    campaign_id: Mapped[uuid.UUID | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
