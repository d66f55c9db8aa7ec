import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import MISSING, BaseModel, Field, StrictInt, StringConstraints

from app.core.pagination import ListQuery, Sortable
from app.core.schemas import InputModel, PatchModel, ReadModel, Timestamp


class ActivityType(StrEnum):
    call = "call"
    email = "email"
    meeting = "meeting"
    note = "note"
    task = "task"


class RelatedType(StrEnum):
    lead = "lead"
    contact = "contact"
    account = "account"
    deal = "deal"


Subject = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(max_length=20_000)]
Outcome = Annotated[str, StringConstraints(max_length=200)]
Duration = Annotated[StrictInt, Field(ge=0, le=24 * 60 * 7, description="Minutes.")]
Participants = Annotated[
    list[uuid.UUID], Field(max_length=50, description="Users taking part besides the owner.")
]

_EXAMPLE_IN = {
    "type": "meeting",
    "subject": "Lái thử xe tại showroom",
    "body": "Anh Ánh đi cùng kế toán.",
    "due_at": "2026-11-25T09:00:00+07:00",
    "duration_minutes": 60,
    "remind_at": "2026-11-25T08:30:00+07:00",
    "related_type": "deal",
    "related_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e72",
}


class ActivityCreate(InputModel):
    example = _EXAMPLE_IN

    type: ActivityType
    subject: Subject
    body: Body | None = None
    due_at: Timestamp | None = None
    duration_minutes: Duration | None = None
    outcome: Outcome | None = None
    completed: bool = False
    remind_at: Timestamp | None = Field(None, description="When to notify the owner.")
    owner_id: uuid.UUID | None = Field(None, description="Default: you.")
    participants: Participants = Field(default_factory=list)
    related_type: RelatedType
    related_id: uuid.UUID = Field(description="A record of `related_type` you can see.")


class ActivityUpdate(PatchModel):
    """Only the fields sent change. `completed: true` stamps `completed_at` and drops a pending
    reminder; a new `remind_at` reschedules it. The record it is about never changes."""

    example = {"completed": True, "outcome": "Khách đồng ý đặt cọc"}

    type: ActivityType | MISSING = MISSING
    subject: Subject | MISSING = MISSING
    body: Body | MISSING | None = MISSING
    due_at: Timestamp | MISSING | None = MISSING
    duration_minutes: Duration | MISSING | None = MISSING
    outcome: Outcome | MISSING | None = MISSING
    completed: bool | MISSING = MISSING
    remind_at: Timestamp | MISSING | None = MISSING
    owner_id: uuid.UUID | MISSING | None = MISSING
    participants: Participants | MISSING = MISSING


class ActivityRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e80",
        "due_at": "2026-11-25T02:00:00Z",
        "remind_at": "2026-11-25T01:30:00Z",
        "outcome": None,
        "completed": False,
        "completed_at": None,
        "owner_id": "01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f",
        "participants": [],
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
        "updated_at": "2026-11-23T04:00:00Z",
        "deleted_at": None,
    }

    id: uuid.UUID
    type: ActivityType
    subject: str
    body: str | None
    due_at: datetime | None
    duration_minutes: int | None
    outcome: str | None
    completed: bool
    completed_at: datetime | None
    remind_at: datetime | None
    owner_id: uuid.UUID | None
    participants: list[uuid.UUID]
    related_type: RelatedType
    related_id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ActivityQuery(ListQuery):
    sort: Annotated[str, Sortable("created_at", "updated_at")] = "-created_at"
    related_type: RelatedType | None = None
    related_id: uuid.UUID | None = Field(None, description="Activities about this record.")
    type: list[ActivityType] | None = Field(None, description="Types (repeat for several).")
    owner_id: uuid.UUID | None = None
    completed: bool | None = None
    due_after: Timestamp | None = Field(None, description="Due at or after.")
    due_before: Timestamp | None = Field(None, description="Due before.")


ActivityQueryParams = Annotated[ActivityQuery, Query()]


class TimelineEntry(BaseModel):
    """One thing in a record's life: an activity about it, or a change to it (created, updated
    — stage moves included —, deleted, restored, converted)."""

    kind: Literal["activity", "change"]
    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None = Field(description="The activity's owner, or who made the change.")
    action: str | None = Field(description="For a change: created, updated, converted, …")
    changes: dict[str, dict[str, Any]] | None = Field(description="For a change: old → new.")
    activity: ActivityRead | None = Field(description="For an activity: the activity.")


class TimelineQuery(BaseModel):
    limit: int = Field(50, ge=1, le=200, description="Page size, 1–200.")
    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the last page.")
    sort: Literal["-at", "at"] = Field("-at", description="`-at`: newest first; `at`: oldest.")


TimelineQueryParams = Annotated[TimelineQuery, Query()]


class CalendarQuery(BaseModel):
    model_config = {"populate_by_name": True}

    from_: Timestamp = Field(alias="from", description="Start of the range (included).")
    to: Timestamp = Field(description="End of the range (excluded), at most 366 days later.")
    owner_id: uuid.UUID | None = Field(
        None, description="Whose agenda (owned or taking part); default: yours."
    )


CalendarQueryParams = Annotated[CalendarQuery, Query()]


class Agenda(BaseModel):
    data: list[ActivityRead] = Field(description="By due time.")
