from datetime import date
from decimal import Decimal

from sqlalchemy import Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, RecordMixin


class Campaign(RecordMixin, Base):
    """A marketing campaign leads come from: a form or an integration points at one, and a
    lead whose `utm_campaign` is its `key` is linked to it."""

    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key"),
        Index("ix_campaigns_recent", "workspace_id", "created_at", "id"),
        Index("ix_campaigns_name", "workspace_id", "name", "id"),
        Index("ix_campaigns_starts_on", "workspace_id", "starts_on", "id"),
        # q: each LIKE word through the trigram index, as leads' is.
        Index(
            "ix_campaigns_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        # One- and two-letter q words (too short for trigrams) match the start of the text.
        Index(
            "ix_campaigns_search_prefix",
            "workspace_id",
            "search_text",
            postgresql_ops={"search_text": "text_pattern_ops"},
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(12))
    # Unconstrained NUMERIC keeps the scale it is given, as a deal's amount does.
    budget: Mapped[Decimal | None] = mapped_column(Numeric())
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(12), default="active")
    # Folded name and key, for `q`.
    search_text: Mapped[str] = mapped_column(Text, default="")
