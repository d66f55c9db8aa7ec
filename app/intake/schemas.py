import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from app.core.pagination import ListQuery, Sortable
from app.core.schemas import ReadModel, Timestamp


class SubmissionStatus(StrEnum):
    received = "received"  # stored, waiting for the worker
    processed = "processed"  # made its lead
    duplicate = "duplicate"  # the person already was a lead or contact
    spam = "spam"  # the honeypot was filled
    test = "test"  # a platform's test lead
    failed = "failed"  # could not become a lead: see `error`; can be replayed


class Provider(StrEnum):
    form = "form"
    meta = "meta"
    google = "google"
    tiktok = "tiktok"
    generic = "generic"


class Accepted(BaseModel):
    """The submission is stored; the worker makes its lead shortly."""

    submission_id: uuid.UUID


class WebhookReceived(BaseModel):
    """The leads are stored; the worker makes them into leads shortly."""

    submission_ids: list[uuid.UUID] = Field(
        description="One per lead in the post, in its order; a lead received before keeps "
        "its first submission."
    )
    redelivered: int = Field(description="How many of them were received before.")


class SubmissionRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ea0",
        "provider": "form",
        "form_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e91",
        "integration_id": None,
        "external_id": None,
        "status": "processed",
        "payload": {"full_name": "Nguyễn Văn Ánh", "phone": "0912 345 678"},
        "context": {"ip": "203.0.113.7", "tracking": {"utm_source": "facebook"}},
        "lead_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "duplicate_of_type": None,
        "duplicate_of_id": None,
        "error": None,
        "attempts": 1,
        "retry_at": None,
        "received_at": "2026-12-02T04:00:00Z",
        "processed_at": "2026-12-02T04:00:01Z",
    }

    id: uuid.UUID
    provider: Provider
    form_id: uuid.UUID | None
    integration_id: uuid.UUID | None = Field(description="The integration it came through.")
    external_id: str | None = Field(
        description="The platform's id for the lead (Meta's leadgen id, Google's lead_id, …): "
        "one submission per id and integration, however often it is delivered."
    )
    status: SubmissionStatus
    payload: dict[str, Any] | None = Field(
        description="What was sent, field by field; null once pruned (SEN_INTAKE_PAYLOAD_DAYS)."
    )
    context: dict[str, Any] = Field(
        description="Where it came from: `ip`, `origin`, `referer`, `user_agent`, and the UTM "
        "parameters and click ids (`tracking`)."
    )
    lead_id: uuid.UUID | None = Field(description="The lead it made.")
    duplicate_of_type: str | None = Field(description="`lead` or `contact` it already was.")
    duplicate_of_id: uuid.UUID | None
    error: str | None = Field(description="Why it failed.")
    attempts: int = Field(description="How many times the worker took it up.")
    retry_at: datetime | None = Field(
        description="Still `received` after its source failed for now (Meta's Graph API down "
        "or slow): when the worker tries again."
    )
    received_at: datetime
    processed_at: datetime | None


class SubmissionQuery(ListQuery):
    sort: Annotated[str, Sortable("received_at")] = "-received_at"
    status: list[SubmissionStatus] | None = Field(None, description="Repeat for several.")
    provider: Provider | None = None
    form_id: uuid.UUID | None = None
    integration_id: uuid.UUID | None = None
    received_after: Timestamp | None = Field(None, description="Received at or after this.")
    received_before: Timestamp | None = Field(None, description="Received before this.")


SubmissionQueryParams = Annotated[SubmissionQuery, Query()]
