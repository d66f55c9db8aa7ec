import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Query
from pydantic import MISSING, BaseModel, Field, StringConstraints

from app.core.money import AmountOut, Currency
from app.core.pagination import RecordListQuery, Sortable
from app.core.schemas import InputModel, Name, PatchModel, ReadModel
from app.deals.schemas import AmountIn


class CampaignChannel(StrEnum):
    facebook = "facebook"
    google = "google"
    tiktok = "tiktok"
    zalo = "zalo"
    email = "email"
    event = "event"
    website = "website"
    other = "other"


class CampaignStatus(StrEnum):
    planned = "planned"
    active = "active"
    paused = "paused"
    completed = "completed"


KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
CampaignKey = Annotated[
    str,
    StringConstraints(pattern=KEY_PATTERN),
    Field(
        description="What ads put in `utm_campaign`: lower-case letters, digits, `_`, `.` and "
        "`-`, at most 100. Unique in the workspace, deleted campaigns included.",
        examples=["tet-2027"],
    ),
]
Budget = Annotated[
    AmountIn, Field(description="A decimal string in the campaign currency's units.")
]

_EXAMPLE_IN = {
    "name": "Khuyến mãi Tết 2027",
    "key": "tet-2027",
    "channel": "facebook",
    "budget": "50000000",
    "currency": "VND",
    "starts_on": "2027-01-10",
    "ends_on": "2027-02-15",
    "status": "active",
}


class CampaignCreate(InputModel):
    example = _EXAMPLE_IN

    name: Name
    key: CampaignKey
    channel: CampaignChannel = CampaignChannel.other
    budget: Budget | None = None
    currency: Currency | None = Field(None, description="ISO 4217; default: the workspace's (VND).")
    starts_on: date | None = None
    ends_on: date | None = Field(None, description="On or after `starts_on`.")
    status: CampaignStatus = CampaignStatus.active


class CampaignUpdate(PatchModel):
    """Only the fields sent change. A new `key` links only leads made from then on; leads
    already linked keep their campaign."""

    example = {"status": "paused", "budget": "65000000"}

    name: Name | MISSING = MISSING
    key: CampaignKey | MISSING = MISSING
    channel: CampaignChannel | MISSING = MISSING
    budget: Budget | MISSING | None = MISSING
    currency: Currency | MISSING = MISSING
    starts_on: date | MISSING | None = MISSING
    ends_on: date | MISSING | None = MISSING
    status: CampaignStatus | MISSING = MISSING


class CampaignRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90",
        "version": 1,
        "created_at": "2026-12-03T04:00:00Z",
        "updated_at": "2026-12-03T04:00:00Z",
        "deleted_at": None,
    }

    id: uuid.UUID
    name: str
    key: str
    channel: CampaignChannel
    budget: AmountOut | None = Field(description="A decimal string, e.g. `50000000`.")
    currency: str
    starts_on: date | None
    ends_on: date | None
    status: CampaignStatus
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class CampaignQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "name", "starts_on")] = Field(
        "-created_at",
        description="A sortable field; `-` for descending. Campaigns without `starts_on` come "
        "after the others (first with `-starts_on`).",
    )
    status: list[CampaignStatus] | None = Field(None, description="Statuses (repeat for several).")
    channel: list[CampaignChannel] | None = Field(
        None, description="Channels (repeat for several)."
    )


CampaignQueryParams = Annotated[CampaignQuery, Query()]


class WonAmount(BaseModel):
    currency: str
    amount: AmountOut = Field(description="A decimal string, e.g. `2850000000`.")


class CampaignStats(ReadModel):
    """What a campaign brought in, counted over every lead of the workspace linked to it."""

    example = {
        "campaign_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90",
        "leads": 40,
        "converted_leads": 6,
        "won_deals": 2,
        "won_amount": [{"currency": "VND", "amount": "5700000000"}],
        "budget": "50000000",
        "currency": "VND",
        "cost_per_lead": "1250000",
    }

    campaign_id: uuid.UUID
    leads: int = Field(description="Live (not deleted) leads linked to the campaign.")
    converted_leads: int = Field(description="Those of them that were converted.")
    won_deals: int = Field(description="Live deals made by converting them, and won.")
    won_amount: list[WonAmount] = Field(
        description="The won deals' amounts summed per currency, by currency code."
    )
    budget: AmountOut | None
    currency: str = Field(description="The campaign's currency: its budget's and cost per lead's.")
    cost_per_lead: AmountOut | None = Field(
        description="Budget / leads, rounded half up to the currency's minor units; null "
        "without a budget or leads."
    )
