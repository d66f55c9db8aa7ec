import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from app.core.schemas import ReadModel


class NotificationRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90",
        "kind": "reminder",
        "title": "Lái thử xe tại showroom",
        "activity_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e80",
        "remind_at": "2026-11-25T01:30:00Z",
        "lead_id": None,
        "created_at": "2026-11-25T01:30:02Z",
        "read_at": None,
    }

    id: uuid.UUID
    kind: Literal["reminder", "lead_assigned", "lead_returned", "workflow"] = Field(
        description="`reminder`: an activity is due; `lead_assigned`: a new lead is yours; "
        "`lead_returned`: someone you have came back through a form or an ad; `workflow`: a "
        "workflow's `notify` action."
    )
    title: str
    activity_id: uuid.UUID | None
    remind_at: datetime | None
    lead_id: uuid.UUID | None = Field(description="The lead it is about.")
    created_at: datetime
    read_at: datetime | None


class Inbox(BaseModel):
    data: list[NotificationRead] = Field(description="Unread first, then newest first.")
    unread_count: int


class InboxQuery(BaseModel):
    unread: bool = Field(False, description="Only unread notifications.")
    limit: int = Field(50, ge=1, le=200, description="How many, 1–200.")


InboxQueryParams = Annotated[InboxQuery, Query()]


class ReadAll(BaseModel):
    marked: int = Field(description="How many were unread.")
