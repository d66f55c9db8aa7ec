import uuid
from typing import Any

from sqlalchemy import Boolean, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, RecordMixin, referring_index, tenant_fk


class Form(RecordMixin, Base):
    """A web form a website embeds (or links to as Sen's hosted page): its fields, how they
    map onto a lead, and the public `key` its submissions are posted with."""

    __tablename__ = "forms"
    __table_args__ = (
        tenant_fk(["campaign_id"], "campaigns"),
        referring_index("forms", "campaign_id"),
        tenant_fk(["default_owner_id"], "users"),
        referring_index("forms", "default_owner_id"),
        UniqueConstraint("workspace_id", "key"),
        # The public endpoint finds a form by its key before it knows the workspace.
        Index("ix_forms_key", "key"),
        Index("ix_forms_recent", "workspace_id", "created_at", "id"),
        Index("ix_forms_name", "workspace_id", "name", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(64))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    campaign_id: Mapped[uuid.UUID | None]
    default_source: Mapped[str] = mapped_column(String(20), default="form")
    default_status: Mapped[str | None] = mapped_column(String(40))
    default_owner_id: Mapped[uuid.UUID | None]
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    allowed_origins: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    honeypot_field: Mapped[str] = mapped_column(String(64), default="_gotcha")
    redirect_url: Mapped[str | None] = mapped_column(String(2000))
    consent_text: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
