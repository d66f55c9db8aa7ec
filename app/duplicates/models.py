from typing import Any

from sqlalchemy import Boolean, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, RecordMixin


class DuplicateRule(RecordMixin, Base):
    """When two records of a kind are the same person or company: every criterion must hold.
    `action` `block` refuses the second (409 `duplicate`); `warn` asks first (409
    `possible_duplicate` unless `allow_duplicates=true`)."""

    __tablename__ = "duplicate_rules"
    __table_args__ = (Index("ix_duplicate_rules_resource", "workspace_id", "resource"),)

    resource: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(8), default="warn")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"fields": ["full_name"], "match": "fuzzy", "threshold": 0.9}, ...]
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
