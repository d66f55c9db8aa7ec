import uuid
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import (
    LOOKED_UP_ON_EVERY_WRITE,
    Base,
    RecordMixin,
    referring_index,
    tenant_fk,
)

_LIVE = text("deleted_at IS NULL")


class Account(RecordMixin, Base):
    """An organisation: customer, prospect, partner, supplier or competitor; may have a parent."""

    __tablename__ = "accounts"
    __table_args__ = (
        tenant_fk(["owner_id"], "users"),
        tenant_fk(["parent_id"], "accounts"),
        # The record this one was merged into (it is soft-deleted since).
        tenant_fk(["merged_into_id"], "accounts"),
        referring_index("accounts", "merged_into_id"),
        # Every sort is an index walk, deleted rows included (`include_deleted`).
        Index("ix_accounts_recent", "workspace_id", "created_at", "id"),
        Index("ix_accounts_updated", "workspace_id", "updated_at", "id"),
        Index("ix_accounts_name", "workspace_id", "name", "id"),
        Index(
            "ix_accounts_owner_recent",
            "workspace_id",
            "owner_id",
            "created_at",
            "id",
            postgresql_where=_LIVE,
        ),
        Index("ix_accounts_parent", "workspace_id", "parent_id"),
        Index(
            "ix_accounts_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # One- and two-letter q words (too short for trigrams) match the start of the text.
        Index(
            "ix_accounts_search_prefix",
            "workspace_id",
            "search_text",
            postgresql_ops={"search_text": "text_pattern_ops"},
        ),
        Index("ix_accounts_tags", "tags", postgresql_using="gin"),
        # Conversion's "link to existing" preview matches by tax code, email and phone.
        Index("ix_accounts_tax_code", "workspace_id", "tax_code"),
        Index("ix_accounts_email", "workspace_id", text("lower(email)")),
        Index("ix_accounts_phone_e164", "workspace_id", "phone_e164"),
        # Duplicate rules' candidates: the same email, a similar name (trigrams).
        Index(
            "ix_accounts_email_key",
            "workspace_id",
            "email_key",
            postgresql_where=text("email_key IS NOT NULL"),
        ),
        Index(
            "ix_accounts_name_key",
            "name_key",
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
            postgresql_with=LOOKED_UP_ON_EVERY_WRITE,
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(12), default="prospect")
    tax_code: Mapped[str | None] = mapped_column(String(14))
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    # Duplicate rules' keys (app/core/match_keys.py): candidates come from their indexes.
    email_key: Mapped[str | None] = mapped_column(String(254))
    name_key: Mapped[str | None] = mapped_column(String(200))  # company_key of `name`
    address: Mapped[str | None] = mapped_column(String(500))
    province: Mapped[str | None] = mapped_column(String(100))
    parent_id: Mapped[uuid.UUID | None]
    owner_id: Mapped[uuid.UUID | None]
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Folded name, tax code, email, phones and website, for `q`.
    search_text: Mapped[str] = mapped_column(Text, default="")
    merged_into_id: Mapped[uuid.UUID | None]  # set with deleted_at by a merge
