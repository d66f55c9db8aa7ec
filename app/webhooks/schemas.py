import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import MISSING, Field, StringConstraints

from app.core.pagination import RecordListQuery, Sortable, SortedQuery
from app.core.schemas import InputModel, PatchModel, ReadModel

# `lead.created`, every event of a resource (`lead.*`) or every event (`*`).
EVENT_PATTERN = r"^(\*|[a-z][a-z_]{0,38}\.(\*|[a-z][a-z_]{0,38}))$"
EventName = Annotated[str, StringConstraints(max_length=80, pattern=EVENT_PATTERN)]
Events = Annotated[
    list[EventName],
    Field(
        min_length=1,
        max_length=100,
        description="The events it receives: types (`lead.created`, `deal.stage_changed`), "
        "`lead.*` for every event of a resource, or `*` for all.",
    ),
]
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000),
    Field(
        description="Where Sen posts: http:// or https://. A loopback, private, link-local or "
        "metadata address is refused (422 here, and again at each delivery when the host "
        "resolves to one) unless the server sets SEN_WEBHOOK_ALLOW_PRIVATE=true."
    ),
]
Description = Annotated[str, StringConstraints(max_length=500)]

_EXAMPLE_IN: dict[str, Any] = {
    "url": "https://hooks.minhphat.vn/sen",
    "events": ["lead.created", "deal.*"],
    "active": True,
    "description": "Đồng bộ sang hệ thống kế toán",
}


class WebhookCreate(InputModel):
    example = _EXAMPLE_IN

    url: Url
    events: Events
    active: bool = True
    description: Description | None = None


class WebhookUpdate(PatchModel):
    """Only the fields sent change. `active: true` switches a disabled webhook back on and
    clears why it was disabled."""

    example = {"active": True}

    url: Url | MISSING = MISSING
    events: Events | MISSING = MISSING
    active: bool | MISSING = MISSING
    description: Description | MISSING | None = MISSING


_EXAMPLE_READ: dict[str, Any] = {
    "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ec0",
    **_EXAMPLE_IN,
    "failing_since": None,
    "disabled_reason": None,
    "version": 1,
    "created_at": "2026-12-04T04:00:00Z",
    "updated_at": "2026-12-04T04:00:00Z",
    "deleted_at": None,
}


class WebhookRead(ReadModel):
    """A webhook as it reads: never its secret."""

    example = _EXAMPLE_READ

    id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    description: str | None
    failing_since: datetime | None = Field(
        description="Since when its deliveries run out of retries (null: they get through)."
    )
    disabled_reason: str | None = Field(
        description="Why Sen switched it off (its receiver answered 410 Gone)."
    )
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class WebhookWithSecret(WebhookRead):
    """A webhook as made (or its secret rotated): the only time its secret is shown."""

    example = {**_EXAMPLE_READ, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}

    secret: str = Field(
        description="Signs every delivery (`webhook-signature`); shown this once: keep it."
    )


class WebhookQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at")] = "-created_at"
    active: bool | None = None


WebhookQueryParams = Annotated[WebhookQuery, Query()]


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its next attempt
    delivered = "delivered"
    failed = "failed"  # out of retries, its receiver gone (410), or the webhook switched off


class DeliveryRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ed0",
        "webhook_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ec0",
        "event_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ee0",
        "event_type": "lead.created",
        "message_id": "msg_01936f4e8a4b7c3d9e2f1a2b3c4d5ee0",
        "status": "delivered",
        "attempts": 3,
        "next_attempt_at": None,
        "last_attempt_at": "2026-12-04T04:05:06Z",
        "last_status_code": 200,
        "last_latency_ms": 84,
        "last_error": None,
        "last_response_body": "ok",
        "delivered_at": "2026-12-04T04:05:06Z",
        "payload": {
            "type": "lead.created",
            "timestamp": "2026-12-04T04:00:00Z",
            "data": {"resource": "lead", "record_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ef0"},
        },
        "created_at": "2026-12-04T04:00:00Z",
    }

    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    message_id: str = Field(description="Its `webhook-id` header: the same on every attempt.")
    status: DeliveryStatus
    attempts: int = Field(description="Attempts made so far, redeliveries included.")
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending.")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The receiver's answer; null: none came.")
    last_latency_ms: int | None
    last_error: str | None = Field(
        description="What went wrong last: a status, a timeout, a refused address."
    )
    last_response_body: str | None = Field(description="The start of the receiver's answer.")
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The body sent: `{type, timestamp, data}`.")
    created_at: datetime


class DeliveryQuery(SortedQuery):
    sort: Annotated[str, Sortable("created_at")] = "-created_at"
    status: list[DeliveryStatus] | None = Field(None, description="Repeat for several.")
    event_type: Annotated[str, StringConstraints(max_length=80)] | None = None


DeliveryQueryParams = Annotated[DeliveryQuery, Query()]
