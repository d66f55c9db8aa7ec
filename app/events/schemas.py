import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.schemas import ReadModel, reject_nul


class EventRead(ReadModel):
    """Something that happened to a record, in the workspace's commit order."""

    position: str = Field(
        description="Its place in the workspace's commit order: pass the last one you read as "
        "`after` to read on from there."
    )
    id: uuid.UUID
    type: str = Field(examples=["lead.updated"])
    resource: str = Field(examples=["lead"])
    record_id: uuid.UUID
    actor_id: uuid.UUID | None = Field(
        description="The member or API key's user who made the change; null for Sen itself "
        "(a workflow, an intake, a sweep)."
    )
    at: datetime
    changes: dict[str, Any] = Field(
        description="Field -> `{old, new}` for a record's changes (its first values for "
        "`*.created`), or what the event is about."
    )
    depth: int = Field(description="How many workflow actions led to it (0: a person did it).")
    automation_id: uuid.UUID | None = Field(description="The workflow whose action made it.")

    example = {
        "position": "1042",
        "id": "01936f4e-2b7a-7cc1-9b53-4f0a5e8a1c11",
        "type": "lead.updated",
        "resource": "lead",
        "record_id": "01936f4e-1d02-7b3a-8a41-0d6c9b2e7f30",
        "actor_id": "01936f4d-f1aa-7e0c-a2b4-5c1d9e3f6a77",
        "at": "2026-12-02T08:15:00Z",
        "changes": {"status": {"old": "new", "new": "contacted"}},
        "depth": 0,
        "automation_id": None,
    }


class EventPage(BaseModel):
    """Events after a position, oldest first. Poll with `after` = `next_after`."""

    data: list[EventRead]
    next_after: str | None = Field(
        description="The position of the last event on this page (or the `after` you sent "
        "when there were none): where the next poll starts."
    )
    has_more: bool = Field(description="More events wait after this page: read on at once.")


class EventQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    after: str | None = Field(
        None,
        max_length=20,
        pattern=r"^[0-9]{1,18}$",
        description="A `position`: only events after it (all kept events when absent).",
    )
    type: str | None = Field(
        None, max_length=60, description="Only this event type (`deal.stage_changed`)."
    )
    resource: str | None = Field(None, max_length=40, description="Only this kind of record.")
    record_id: uuid.UUID | None = Field(None, description="Only this record's events.")
    limit: int = Field(100, ge=1, le=500, description="Page size, 1–500.")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)
