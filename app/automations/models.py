import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, SmallInteger, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, RecordMixin, TenantMixin, tenant_fk, utcnow


class Automation(RecordMixin, Base):
    """A workflow: when its trigger fires for a record of `resource` and its conditions hold,
    its actions run, in order (docs/decisions/0011-workflows.md)."""

    __tablename__ = "automations"
    __table_args__ = (
        Index("ix_automations_recent", "workspace_id", "created_at", "id"),
        Index("ix_automations_name", "workspace_id", "name", "id"),
        # The dispatcher's question for each event: which live, active workflows wait for it.
        Index(
            "ix_automations_event",
            "workspace_id",
            "trigger_event",
            postgresql_where=text("active AND deleted_at IS NULL"),
        ),
        Index(
            "ix_automations_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        Index(
            "ix_automations_search_prefix",
            "workspace_id",
            "search_text",
            postgresql_ops={"search_text": "text_pattern_ops"},
        ),
        # The clock's: which date and schedule workflows are due.
        Index(
            "ix_automations_due",
            "workspace_id",
            "next_fire_at",
            postgresql_where=text("active AND deleted_at IS NULL AND next_fire_at IS NOT NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    resource: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[dict[str, Any]]
    conditions: Mapped[dict[str, Any]]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # The trigger's event type ("lead.created") when it is an event: indexed for dispatch.
    trigger_event: Mapped[str | None] = mapped_column(String(60))
    # When a date or schedule trigger next looks for records (None for an event trigger).
    next_fire_at: Mapped[datetime | None]
    search_text: Mapped[str] = mapped_column(Text, default="")


class AutomationRun(TenantMixin, Base):
    """One firing of a workflow for one record: its trigger, each action's outcome, and where
    it stands. At most one per (workflow, record, occurrence): `occurrence` is the event's id,
    the date (`date:2027-03-08`) or the schedule's time."""

    __tablename__ = "automation_runs"
    __table_args__ = (
        UniqueConstraint("workspace_id", "automation_id", "record_id", "occurrence"),
        tenant_fk(["automation_id"], "automations", ondelete="CASCADE"),
        Index("ix_automation_runs_recent", "workspace_id", "automation_id", "created_at", "id"),
        # The sweep's: runs whose next step is due (a lost nudge, a wait over, a retry).
        Index(
            "ix_automation_runs_due",
            "workspace_id",
            "due_at",
            postgresql_where=text("status IN ('queued', 'running', 'waiting', 'retrying')"),
        ),
    )

    automation_id: Mapped[uuid.UUID]
    resource: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[uuid.UUID]
    occurrence: Mapped[str] = mapped_column(String(80))
    trigger: Mapped[dict[str, Any]]  # what fired it: the event, or the date
    status: Mapped[str] = mapped_column(String(12), default="queued")
    depth: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_action: Mapped[int] = mapped_column(SmallInteger, default=0)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)  # of the next action
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    error: Mapped[str | None] = mapped_column(String(2000))
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
