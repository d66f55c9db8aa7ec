import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import MISSING, BaseModel, Field, StringConstraints

from app.core.limits import ACCOUNTS_PER_CONTACT
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
    Title,
)


class Gender(StrEnum):
    male = "male"
    female = "female"
    other = "other"


class ContactRole(StrEnum):
    """The part a contact plays at an account."""

    decision_maker = "decision_maker"
    economic_buyer = "economic_buyer"
    influencer = "influencer"
    technical = "technical"
    billing = "billing"
    user = "user"
    other = "other"


NamePart = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Birthday = Annotated[date, Field(description="A calendar date, `YYYY-MM-DD`.")]


class AccountLink(BaseModel):
    """One of a contact's accounts, and the contact's part there."""

    account_id: uuid.UUID
    role: ContactRole | None
    is_primary: bool


class AccountLinkCreate(InputModel):
    example = {"account_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f", "role": "decision_maker"}

    account_id: uuid.UUID
    role: ContactRole | None = None
    is_primary: bool = Field(
        False, description="Make this the contact's primary account (the previous one stops being)."
    )


class AccountLinkUpdate(PatchModel):
    example = {"role": "billing", "is_primary": True}

    role: ContactRole | MISSING | None = MISSING
    is_primary: bool | MISSING = MISSING


class AccountLinkList(BaseModel):
    data: list[AccountLink]


_EXAMPLE_IN = {
    "full_name": "Nguyễn Văn Ánh",
    "email": "anh.nguyen@minhphat.vn",
    "phone": "0912 345 678",
    "title": "Giám đốc mua hàng",
    "birthday": "1985-04-30",
    "gender": "male",
    "province": "Hà Nội",
    "tags": ["vip"],
    "custom_fields": {},
}


class ContactCreate(InputModel):
    """`full_name` in Vietnamese order, family name first; `last_name` (họ) and `first_name`
    (tên) are taken from it unless sent."""

    example = {**_EXAMPLE_IN, "account_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f"}

    full_name: Name
    first_name: NamePart | None = Field(None, description="Given name (tên), e.g. `Ánh`.")
    last_name: NamePart | None = Field(None, description="Family name (họ), e.g. `Nguyễn`.")
    email: Email | None = None
    phone: Phone | None = None
    title: Title | None = None
    birthday: Birthday | None = None
    gender: Gender | None = None
    province: Area | None = None
    do_not_contact: bool = False
    owner_id: uuid.UUID | None = Field(None, description="Default: you.")
    tags: Tags = Field(default_factory=list)
    custom_fields: CustomFieldValues = Field(default_factory=dict)
    account_id: uuid.UUID | None = Field(
        None, description="Shortcut: link the contact to this account as its primary one."
    )
    account_role: ContactRole | None = Field(None, description="The part played at `account_id`.")


class ContactUpdate(PatchModel):
    """Only the fields sent change; account links are managed at `/contacts/{id}/accounts`."""

    example = {"title": "Tổng giám đốc", "do_not_contact": True}

    full_name: Name | MISSING = MISSING
    first_name: NamePart | MISSING | None = MISSING
    last_name: NamePart | MISSING | None = MISSING
    email: Email | MISSING | None = MISSING
    phone: Phone | MISSING | None = MISSING
    title: Title | MISSING | None = MISSING
    birthday: Birthday | MISSING | None = MISSING
    gender: Gender | MISSING | None = MISSING
    province: Area | MISSING | None = MISSING
    do_not_contact: bool | MISSING = MISSING
    owner_id: uuid.UUID | MISSING | None = MISSING
    tags: Tags | MISSING = MISSING
    custom_fields: CustomFieldValues | MISSING = MISSING


class ContactRead(ReadModel):
    """`accounts` comes last: a list writes it after the contact's own columns."""

    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e70",
        "first_name": "Ánh",
        "last_name": "Nguyễn",
        "phone_e164": "+84912345678",
        "do_not_contact": False,
        "owner_id": "01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f",
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
        "updated_at": "2026-11-23T04:00:00Z",
        "deleted_at": None,
        "merged_into_id": None,
        "accounts": [
            {
                "account_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
                "role": "decision_maker",
                "is_primary": True,
            }
        ],
    }

    id: uuid.UUID
    full_name: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    phone_e164: str | None = Field(
        description="Read-only: the phone in E.164, null if unparseable."
    )
    title: str | None
    birthday: date | None
    gender: Gender | None
    province: str | None
    do_not_contact: bool
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
    accounts: list[AccountLink] = Field(
        description="Links to live accounts you can see, the primary one first; a contact has "
        f"at most {ACCOUNTS_PER_CONTACT}."
    )


class ContactQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "updated_at", "full_name")] = "-created_at"
    owner_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = Field(None, description="Contacts linked to this account.")
    province: Area | None = None
    do_not_contact: bool | None = None
    tag: list[Tag] | None = Field(None, description="Contacts carrying every given tag.")


ContactQueryParams = Annotated[ContactQuery, Query()]
