import uuid
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Uuid
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, RecordMixin, referring_index, tenant_fk


class AssignmentRule(RecordMixin, Base):
    """Who gets a new lead from intake: the first active rule by priority whose conditions
    hold assigns, by its strategy, among its users or its team's."""

    __tablename__ = "assignment_rules"
    __table_args__ = (
        tenant_fk(["team_id"], "teams"),
        referring_index("assignment_rules", "team_id"),
        Index("ix_assignment_rules_priority", "workspace_id", "priority", "id"),
        Index("ix_assignment_rules_recent", "workspace_id", "created_at", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    strategy: Mapped[str] = mapped_column(String(12))
    user_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid()), default=list)
    team_id: Mapped[uuid.UUID | None]
    # The round-robin turn: how many leads this rule has given out. Kept here, so every worker
    # process shares it and a restart keeps it.
    turns: Mapped[int] = mapped_column(Integer, default=0)
