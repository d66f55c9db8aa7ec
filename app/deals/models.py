import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import (
    Base,
    RecordMixin,
    TenantMixin,
    referring_index,
    tenant_fk,
    utcnow,
)

_LIVE = text("deleted_at IS NULL")


class Deal(RecordMixin, Base):
    """One sales opportunity moving through the stages of its pipeline until won or lost."""

    __tablename__ = "deals"
    __table_args__ = (
        tenant_fk(["owner_id"], "users"),
        tenant_fk(["account_id"], "accounts"),
        tenant_fk(["contact_id"], "contacts"),
        tenant_fk(["pipeline_id"], "pipelines"),
        tenant_fk(["source_lead_id"], "leads"),
        referring_index("deals", "source_lead_id"),
        # The stage belongs to the deal's own pipeline: the database holds that, not only code.
        ForeignKeyConstraint(
            ["workspace_id", "pipeline_id", "stage_id"],
            [
                "pipeline_stages.workspace_id",
                "pipeline_stages.pipeline_id",
                "pipeline_stages.id",
            ],
            name="fk_deals_stage_of_pipeline",
        ),
        # A pipeline is deleted, a stage retired, only when no deal, deleted ones included, is
        # in it.
        Index("ix_deals_stage", "workspace_id", "pipeline_id", "stage_id"),
        # Every sort is an index walk, deleted rows included (`include_deleted`).
        Index("ix_deals_recent", "workspace_id", "created_at", "id"),
        Index("ix_deals_updated", "workspace_id", "updated_at", "id"),
        Index("ix_deals_name", "workspace_id", "name", "id"),
        Index(
            "ix_deals_stage_recent",
            "workspace_id",
            "pipeline_id",
            "stage_id",
            "created_at",
            "id",
            postgresql_where=_LIVE,
        ),
        Index(
            "ix_deals_owner_recent",
            "workspace_id",
            "owner_id",
            "created_at",
            "id",
            postgresql_where=_LIVE,
        ),
        Index("ix_deals_account", "workspace_id", "account_id"),
        Index("ix_deals_contact", "workspace_id", "contact_id"),
        Index(
            "ix_deals_expected_close",
            "workspace_id",
            "expected_close_date",
            "id",
            postgresql_where=_LIVE,
        ),
        Index(
            "ix_deals_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # One- and two-letter q words (too short for trigrams) match the start of the text.
        Index(
            "ix_deals_search_prefix",
            "workspace_id",
            "search_text",
            postgresql_ops={"search_text": "text_pattern_ops"},
        ),
        Index("ix_deals_tags", "tags", postgresql_using="gin"),
    )

    name: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None]
    pipeline_id: Mapped[uuid.UUID]
    stage_id: Mapped[uuid.UUID]
    # Unconstrained NUMERIC keeps the scale it is given: 1500000000 VND, 99.50 USD.
    amount: Mapped[Decimal | None] = mapped_column(Numeric())
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    probability: Mapped[int] = mapped_column(SmallInteger)
    expected_close_date: Mapped[date | None]
    owner_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(4), default="open")
    closed_at: Mapped[datetime | None]
    lost_reason: Mapped[str | None] = mapped_column(String(500))
    source_lead_id: Mapped[uuid.UUID | None]
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Folded name, for `q`.
    search_text: Mapped[str] = mapped_column(Text, default="")


class StageChange(TenantMixin, Base):
    """A deal's move between stages (its creation is the first, from no stage)."""

    __tablename__ = "deal_stage_changes"
    __table_args__ = (
        tenant_fk(["deal_id"], "deals"),
        tenant_fk(["from_stage_id"], "pipeline_stages"),
        referring_index("deal_stage_changes", "from_stage_id"),
        tenant_fk(["to_stage_id"], "pipeline_stages"),
        referring_index("deal_stage_changes", "to_stage_id", nullable=False),
        Index("ix_deal_stage_changes_deal", "workspace_id", "deal_id", "moved_at", "id"),
    )

    deal_id: Mapped[uuid.UUID]
    from_stage_id: Mapped[uuid.UUID | None]
    to_stage_id: Mapped[uuid.UUID]
    moved_at: Mapped[datetime] = mapped_column(default=utcnow)
    moved_by: Mapped[uuid.UUID | None]
    seconds_in_previous_stage: Mapped[int | None] = mapped_column(Integer)
