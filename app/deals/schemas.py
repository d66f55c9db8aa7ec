import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from fastapi import Query
from pydantic import MISSING, BaseModel, Field, StrictInt, StringConstraints

from app.core.money import Amount, AmountOut, Currency
from app.core.pagination import PageQuery, RecordListQuery, Sortable
from app.core.schemas import (
    CustomFieldValues,
    InputModel,
    Name,
    PatchModel,
    ReadModel,
    Tag,
    Tags,
)


class DealStatus(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"


Probability = Annotated[StrictInt, Field(ge=0, le=100, description="Chance to win, 0–100 %.")]
LostReason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
AmountIn = Annotated[
    Amount, Field(description="A decimal string in the currency's units, e.g. `1500000000`.")
]

_EXAMPLE_IN = {
    "name": "Minh Phát — 3 xe tải Hino",
    "account_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
    "contact_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e70",
    "amount": "2850000000",
    "currency": "VND",
    "expected_close_date": "2027-01-15",
    "tags": ["xe tải"],
    "custom_fields": {},
}


class DealCreate(InputModel):
    example = _EXAMPLE_IN

    name: Name
    account_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = Field(None, description="Default: the default pipeline.")
    stage_id: uuid.UUID | None = Field(
        None, description="Default: the pipeline's first open stage."
    )
    amount: AmountIn | None = None
    currency: Currency | None = Field(None, description="ISO 4217; default: the workspace's (VND).")
    probability: Probability | None = Field(None, description="Default: the stage's.")
    expected_close_date: date | None = None
    owner_id: uuid.UUID | None = Field(None, description="Default: you.")
    lost_reason: LostReason | None = Field(None, description="Required when the stage is `lost`.")
    tags: Tags = Field(default_factory=list)
    custom_fields: CustomFieldValues = Field(default_factory=dict)


class DealUpdate(PatchModel):
    """Only the fields sent change. `stage_id` (and `pipeline_id`, which needs a stage of the
    new pipeline or takes its first open one) moves the deal by the rules of
    `POST /deals/{id}/stage`."""

    example = {"amount": "3100000000", "expected_close_date": "2027-02-01"}

    name: Name | MISSING = MISSING
    account_id: uuid.UUID | MISSING | None = MISSING
    contact_id: uuid.UUID | MISSING | None = MISSING
    pipeline_id: uuid.UUID | MISSING = MISSING
    stage_id: uuid.UUID | MISSING = MISSING
    amount: AmountIn | MISSING | None = MISSING
    currency: Currency | MISSING = MISSING
    probability: Probability | MISSING = MISSING
    expected_close_date: date | MISSING | None = MISSING
    owner_id: uuid.UUID | MISSING | None = MISSING
    lost_reason: LostReason | MISSING | None = MISSING
    tags: Tags | MISSING = MISSING
    custom_fields: CustomFieldValues | MISSING = MISSING


class MoveToStage(InputModel):
    example = {"stage_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e71", "lost_reason": None}

    stage_id: uuid.UUID
    lost_reason: LostReason | None = Field(
        None, description="Why it was lost: required when the stage is `lost`."
    )


class DealRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e72",
        "pipeline_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e73",
        "stage_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e71",
        "probability": 10,
        "owner_id": "01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f",
        "status": "open",
        "closed_at": None,
        "lost_reason": None,
        "source_lead_id": None,
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
        "updated_at": "2026-11-23T04:00:00Z",
        "deleted_at": None,
    }

    id: uuid.UUID
    name: str
    account_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    amount: AmountOut | None = Field(description="A decimal string, e.g. `2850000000`.")
    currency: str
    probability: int
    expected_close_date: date | None
    owner_id: uuid.UUID | None
    status: DealStatus = Field(description="Read-only: the kind of the deal's stage.")
    closed_at: datetime | None = Field(description="Read-only: when it was won or lost.")
    lost_reason: str | None
    source_lead_id: uuid.UUID | None = Field(description="Read-only: the converted lead.")
    tags: list[str]
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class DealQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "updated_at", "name")] = "-created_at"
    pipeline_id: uuid.UUID | None = None
    stage_id: list[uuid.UUID] | None = Field(None, description="Stages (repeat for several).")
    status: list[DealStatus] | None = Field(None, description="open, won, lost (repeat).")
    owner_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    amount_min: Amount | None = Field(None, description="Amount at least this (any currency).")
    amount_max: Amount | None = Field(None, description="Amount at most this (any currency).")
    expected_close_after: date | None = Field(None, description="Expected to close on or after.")
    expected_close_before: date | None = Field(None, description="Expected to close before.")
    tag: list[Tag] | None = Field(None, description="Deals carrying every given tag.")


DealQueryParams = Annotated[DealQuery, Query()]


class StageMove(BaseModel):
    from_stage_id: uuid.UUID | None = Field(description="Null for the deal's creation.")
    to_stage_id: uuid.UUID
    moved_at: datetime
    moved_by: uuid.UUID | None
    seconds_in_previous_stage: int | None = Field(description="Null for the creation.")


class StageHistory(BaseModel):
    """A deal's stage moves, oldest first, a page at a time."""

    data: list[StageMove]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class StageHistoryQuery(PageQuery):
    sort: ClassVar[str] = "moved_at"  # oldest first: the deal's way through its pipeline


StageHistoryQueryParams = Annotated[StageHistoryQuery, Query()]
