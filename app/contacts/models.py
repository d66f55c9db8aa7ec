import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import (
    LOOKED_UP_ON_EVERY_WRITE,
    Base,
    RecordMixin,
    TenantMixin,
    referring_index,
    tenant_fk,
    utcnow,
)

_LIVE = text("deleted_at IS NULL")


class Contact(RecordMixin, Base):
    """A person; linked to zero or more accounts through `AccountContact`."""

    __tablename__ = "contacts"
    __table_args__ = (
        tenant_fk(["owner_id"], "users"),
        # The record this one was merged into (it is soft-deleted since).
        tenant_fk(["merged_into_id"], "contacts"),
        referring_index("contacts", "merged_into_id"),
        # Every sort is an index walk, deleted rows included (`include_deleted`).
        Index("ix_contacts_recent", "workspace_id", "created_at", "id"),
        Index("ix_contacts_updated", "workspace_id", "updated_at", "id"),
        Index("ix_contacts_full_name", "workspace_id", "full_name", "id"),
        Index(
            "ix_contacts_owner_recent",
            "workspace_id",
            "owner_id",
            "created_at",
            "id",
            postgresql_where=_LIVE,
        ),
        Index(
            "ix_contacts_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # One- and two-letter q words (too short for trigrams) match the start of the text.
        Index(
            "ix_contacts_search_prefix",
            "workspace_id",
            "search_text",
            postgresql_ops={"search_text": "text_pattern_ops"},
        ),
        Index("ix_contacts_tags", "tags", postgresql_using="gin"),
        Index("ix_contacts_email", "workspace_id", text("lower(email)")),
        Index("ix_contacts_phone_e164", "workspace_id", "phone_e164"),
        # A yearly date workflow's question: whose birthday falls on this month and day.
        Index(
            "ix_contacts_birthday_day",
            "workspace_id",
            text("EXTRACT(month FROM birthday)"),
            text("EXTRACT(day FROM birthday)"),
            postgresql_where=text("deleted_at IS NULL AND birthday IS NOT NULL"),
        ),
        # Duplicate rules' candidates: the same email, a similar name (trigrams).
        Index(
            "ix_contacts_email_key",
            "workspace_id",
            "email_key",
            postgresql_where=text("email_key IS NOT NULL"),
        ),
        Index(
            "ix_contacts_name_key",
            "name_key",
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
            postgresql_with=LOOKED_UP_ON_EVERY_WRITE,
        ),
    )

    full_name: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str | None] = mapped_column(String(100))  # given name (tên)
    last_name: Mapped[str | None] = mapped_column(String(100))  # family name (họ)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    # Duplicate rules' keys (app/core/match_keys.py): candidates come from their indexes.
    email_key: Mapped[str | None] = mapped_column(String(254))
    name_key: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(120))
    birthday: Mapped[date | None]
    gender: Mapped[str | None] = mapped_column(String(8))
    province: Mapped[str | None] = mapped_column(String(100))
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[uuid.UUID | None]
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Folded name, email and phones, for `q`.
    search_text: Mapped[str] = mapped_column(Text, default="")
    merged_into_id: Mapped[uuid.UUID | None]  # set with deleted_at by a merge


class AccountContact(TenantMixin, Base):
    """A contact's link to an account, with the part they play there."""

    __tablename__ = "account_contacts"
    __table_args__ = (
        tenant_fk(["contact_id"], "contacts"),
        tenant_fk(["account_id"], "accounts"),
        UniqueConstraint("workspace_id", "contact_id", "account_id"),
        # At most one primary account per contact.
        Index(
            "uq_account_contacts_primary",
            "workspace_id",
            "contact_id",
            unique=True,
            postgresql_where=text("is_primary"),
        ),
        Index("ix_account_contacts_account", "workspace_id", "account_id", "contact_id"),
    )

    contact_id: Mapped[uuid.UUID]
    account_id: Mapped[uuid.UUID]
    role: Mapped[str | None] = mapped_column(String(20))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
