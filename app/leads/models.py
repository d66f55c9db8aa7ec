import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import (
    LOOKED_UP_ON_EVERY_WRITE,
    Base,
    RecordMixin,
    TenantMixin,
    TimestampMixin,
    VersionedMixin,
    referring_index,
    tenant_fk,
)

_LIVE = text("deleted_at IS NULL")


class LeadStatus(TenantMixin, TimestampMixin, VersionedMixin, Base):
    """A workspace's lead status: a stable `key`, one of five categories, labels in vi and en."""

    __tablename__ = "lead_statuses"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    key: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    label_vi: Mapped[str] = mapped_column(String(80))
    label_en: Mapped[str] = mapped_column(String(80))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def labels(self) -> dict[str, str]:
        return {"vi": self.label_vi, "en": self.label_en}


class Lead(RecordMixin, Base):
    __tablename__ = "leads"
    __table_args__ = (
        tenant_fk(["owner_id"], "users"),
        # What the lead became. Its deal has no foreign key: deals.source_lead_id points back
        # here, and Citus distributes no cycle of references (migration 0026); the conversion
        # writes both in one transaction, and deals are never deleted (soft delete).
        tenant_fk(["converted_account_id"], "accounts"),
        referring_index("leads", "converted_account_id"),
        tenant_fk(["converted_contact_id"], "contacts"),
        referring_index("leads", "converted_contact_id"),
        tenant_fk(["campaign_id"], "campaigns"),
        tenant_fk(["form_id"], "forms"),
        referring_index("leads", "form_id"),
        # The record this one was merged into (it is soft-deleted since).
        tenant_fk(["merged_into_id"], "leads"),
        referring_index("leads", "merged_into_id"),
        ForeignKeyConstraint(
            ["workspace_id", "status"],
            ["lead_statuses.workspace_id", "lead_statuses.key"],
            name="fk_leads_status_lead_statuses",
        ),
        # A status is deleted only when no lead, deleted ones included, has it.
        Index("ix_leads_status", "workspace_id", "status"),
        # Lists: every sort is an index walk, keyset on (sort key, id), deleted rows included
        # (`include_deleted`); the common filters have their own, newest first.
        Index("ix_leads_recent", "workspace_id", "created_at", "id"),
        Index("ix_leads_updated", "workspace_id", "updated_at", "id"),
        Index("ix_leads_full_name", "workspace_id", "full_name", "id"),
        Index("ix_leads_score", "workspace_id", "score", "id"),
        Index(
            "ix_leads_status_recent",
            "workspace_id",
            "status",
            "created_at",
            "id",
            postgresql_where=_LIVE,
        ),
        Index(
            "ix_leads_owner_recent",
            "workspace_id",
            "owner_id",
            "created_at",
            "id",
            postgresql_where=_LIVE,
        ),
        # q: each LIKE word through the trigram index (usable under RLS: see migration 0001).
        Index(
            "ix_leads_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # One- and two-letter q words (too short for trigrams) match the start of the text.
        Index(
            "ix_leads_search_prefix",
            "workspace_id",
            "search_text",
            postgresql_ops={"search_text": "text_pattern_ops"},
        ),
        Index("ix_leads_tags", "tags", postgresql_using="gin"),
        Index("ix_leads_email", "workspace_id", text("lower(email)")),
        Index("ix_leads_phone_e164", "workspace_id", "phone_e164"),
        # Duplicate rules' candidates: the same email, a similar name (trigrams).
        Index(
            "ix_leads_email_key",
            "workspace_id",
            "email_key",
            postgresql_where=text("email_key IS NOT NULL"),
        ),
        Index(
            "ix_leads_name_key",
            "name_key",
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
            postgresql_with=LOOKED_UP_ON_EVERY_WRITE,
        ),
        # A rule on company without a name looks people up by company.
        Index(
            "ix_leads_company_key",
            "company_key",
            postgresql_using="gin",
            postgresql_ops={"company_key": "gin_trgm_ops"},
            postgresql_with=LOOKED_UP_ON_EVERY_WRITE,
        ),
        # A rule on name and company: pairs of name words at a company (`person_keys`).
        Index(
            "ix_leads_person_keys",
            "person_keys",
            postgresql_using="gin",
            postgresql_where=text("person_keys IS NOT NULL"),
            postgresql_with=LOOKED_UP_ON_EVERY_WRITE,
        ),
        Index(
            "ix_leads_campaign",
            "workspace_id",
            "campaign_id",
            postgresql_where=text("campaign_id IS NOT NULL"),
        ),
        # A submission makes at most one lead, however often its job runs. No foreign key:
        # submissions point at their lead, and a cycle would keep the pair off Citus.
        Index(
            "uq_leads_submission",
            "workspace_id",
            "submission_id",
            unique=True,
            postgresql_where=text("submission_id IS NOT NULL"),
        ),
    )

    full_name: Mapped[str] = mapped_column(String(200))
    company_name: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    # Duplicate rules' keys (app/core/match_keys.py): candidates come from their indexes.
    email_key: Mapped[str | None] = mapped_column(String(254))
    name_key: Mapped[str | None] = mapped_column(String(200))
    company_key: Mapped[str | None] = mapped_column(String(200))
    person_keys: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    status: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20), default="other")
    qualification: Mapped[str] = mapped_column(String(8), default="none")
    score: Mapped[int] = mapped_column(SmallInteger, default=0)
    industry: Mapped[str | None] = mapped_column(String(100))
    province: Mapped[str | None] = mapped_column(String(100))
    owner_id: Mapped[uuid.UUID | None]
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_term: Mapped[str | None] = mapped_column(String(200))
    utm_content: Mapped[str | None] = mapped_column(String(200))
    gclid: Mapped[str | None] = mapped_column(String(200))
    fbclid: Mapped[str | None] = mapped_column(String(200))
    campaign_id: Mapped[uuid.UUID | None]
    form_id: Mapped[uuid.UUID | None]
    submission_id: Mapped[uuid.UUID | None]
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    # Folded (lower-case, no diacritics) name, company, email and phones, for `q`.
    search_text: Mapped[str] = mapped_column(Text, default="")
    converted_account_id: Mapped[uuid.UUID | None]
    converted_contact_id: Mapped[uuid.UUID | None]
    converted_deal_id: Mapped[uuid.UUID | None]
    converted_at: Mapped[datetime | None]
    merged_into_id: Mapped[uuid.UUID | None]  # set with deleted_at by a merge
