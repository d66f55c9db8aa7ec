import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import MISSING, Field, StringConstraints

from app.core.pagination import RecordListQuery, Sortable
from app.core.schemas import (
    Area,
    CustomFieldValues,
    Email,
    InputModel,
    Name,
    PatchModel,
    Phone,
    ReadModel,
    Tag,
    Tags,
)


class AccountType(StrEnum):
    customer = "customer"
    prospect = "prospect"
    partner = "partner"
    supplier = "supplier"
    competitor = "competitor"
    other = "other"


# Vietnamese tax code (mã số thuế): 10 digits for an enterprise, 10 + "-" + 3 for a branch.
TaxCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{10}(-[0-9]{3})?$"),
    Field(description="Mã số thuế: 10 digits, or 10 digits, `-` and 3 digits for a branch."),
]
Website = Annotated[str, StringConstraints(max_length=300, pattern=r"^(https?://)?[^\s.]+\.\S+$")]
Size = Annotated[
    str, StringConstraints(max_length=40), Field(description="Headcount band, e.g. `51-200`.")
]
Address = Annotated[str, StringConstraints(max_length=500)]

_EXAMPLE_IN = {
    "name": "Công ty TNHH Minh Phát",
    "type": "prospect",
    "tax_code": "0312345678",
    "industry": "Ô tô",
    "size": "51-200",
    "website": "https://minhphat.vn",
    "email": "lienhe@minhphat.vn",
    "phone": "028 3823 4567",
    "address": "12 Nguyễn Huệ, Quận 1",
    "province": "TP. Hồ Chí Minh",
    "tags": ["đại lý"],
    "custom_fields": {},
}


class AccountCreate(InputModel):
    example = _EXAMPLE_IN

    name: Name
    type: AccountType = AccountType.prospect
    tax_code: TaxCode | None = None
    industry: Area | None = None
    size: Size | None = None
    website: Website | None = None
    email: Email | None = None
    phone: Phone | None = None
    address: Address | None = None
    province: Area | None = None
    parent_id: uuid.UUID | None = Field(None, description="The parent organisation's id.")
    owner_id: uuid.UUID | None = Field(None, description="Default: you.")
    tags: Tags = Field(default_factory=list)
    custom_fields: CustomFieldValues = Field(default_factory=dict)


class AccountUpdate(PatchModel):
    """Only the fields sent change; `custom_fields` merges key by key (null removes a key)."""

    example = {"type": "customer", "parent_id": None, "tags": ["đại lý", "miền nam"]}

    name: Name | MISSING = MISSING
    type: AccountType | MISSING = MISSING
    tax_code: TaxCode | MISSING | None = MISSING
    industry: Area | MISSING | None = MISSING
    size: Size | MISSING | None = MISSING
    website: Website | MISSING | None = MISSING
    email: Email | MISSING | None = MISSING
    phone: Phone | MISSING | None = MISSING
    address: Address | MISSING | None = MISSING
    province: Area | MISSING | None = MISSING
    parent_id: uuid.UUID | MISSING | None = MISSING
    owner_id: uuid.UUID | MISSING | None = MISSING
    tags: Tags | MISSING = MISSING
    custom_fields: CustomFieldValues | MISSING = MISSING


class AccountRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "phone_e164": "+842838234567",
        "parent_id": None,
        "owner_id": "01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f",
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
        "updated_at": "2026-11-23T04:00:00Z",
        "deleted_at": None,
        "merged_into_id": None,
    }

    id: uuid.UUID
    name: str
    type: AccountType
    tax_code: str | None
    industry: str | None
    size: str | None
    website: str | None
    email: str | None
    phone: str | None
    phone_e164: str | None = Field(
        description="Read-only: the phone in E.164, null if unparseable."
    )
    address: str | None
    province: str | None
    parent_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    tags: list[str]
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    merged_into_id: uuid.UUID | None = Field(
        description="Read-only: the record this one was merged into (it is deleted since)."
    )


class AccountQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "updated_at", "name")] = "-created_at"
    type: list[AccountType] | None = Field(None, description="Account types (repeat for several).")
    owner_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = Field(None, description="Direct subsidiaries of this account.")
    tax_code: TaxCode | None = None
    province: Area | None = None
    industry: Area | None = None
    tag: list[Tag] | None = Field(None, description="Accounts carrying every given tag.")


AccountQueryParams = Annotated[AccountQuery, Query()]
