import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import MISSING, BaseModel, Field, StrictInt, StringConstraints

from app.accounts.schemas import AccountCreate, AccountRead
from app.contacts.schemas import ContactCreate, ContactRead
from app.core.money import Currency
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
    ShortText,
    Tag,
    Tags,
    Title,
)
from app.deals.schemas import AmountIn, DealRead


class LeadSource(StrEnum):
    website = "website"
    form = "form"
    facebook = "facebook"
    google_ads = "google_ads"
    tiktok = "tiktok"
    zalo = "zalo"
    hotline = "hotline"
    referral = "referral"
    event = "event"
    import_ = "import"
    other = "other"


class Qualification(StrEnum):
    none = "none"
    mql = "mql"
    sql = "sql"


class StatusCategory(StrEnum):
    raw = "raw"
    open = "open"
    qualified = "qualified"
    converted = "converted"
    disqualified = "disqualified"


StatusKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Utm = Annotated[str, StringConstraints(max_length=200)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
Score = Annotated[StrictInt, Field(ge=0, le=100)]

_EXAMPLE_IN = {
    "full_name": "Nguyễn Văn Ánh",
    "company_name": "Công ty TNHH Minh Phát",
    "title": "Giám đốc",
    "email": "anh.nguyen@minhphat.vn",
    "phone": "0912 345 678",
    "status": "new",
    "source": "website",
    "qualification": "mql",
    "score": 40,
    "industry": "Ô tô",
    "province": "Hà Nội",
    "tags": ["vip", "hội chợ 2026"],
    "utm_source": "facebook",
    "utm_campaign": "tet-2027",
    "custom_fields": {},
    "notes": "Quan tâm xe 7 chỗ",
}


class LeadCreate(InputModel):
    example = _EXAMPLE_IN

    full_name: Name
    company_name: ShortText | None = None
    title: Title | None = None
    email: Email | None = None
    phone: Phone | None = None
    status: StatusKey | None = Field(None, description="A lead-status key; default: `new`.")
    source: LeadSource = LeadSource.other
    qualification: Qualification = Qualification.none
    score: Score = 0
    industry: Area | None = None
    province: Area | None = None
    owner_id: uuid.UUID | None = Field(None, description="A user of the workspace; default: you.")
    tags: Tags = Field(default_factory=list)
    utm_source: Utm | None = None
    utm_medium: Utm | None = None
    utm_campaign: Utm | None = None
    utm_term: Utm | None = None
    utm_content: Utm | None = None
    gclid: Utm | None = Field(None, description="Google Ads click id.")
    fbclid: Utm | None = Field(None, description="Facebook click id.")
    campaign_id: uuid.UUID | None = Field(
        None,
        description="A campaign of the workspace; default: the one whose `key` is `utm_campaign`.",
    )
    custom_fields: CustomFieldValues = Field(default_factory=dict)
    notes: Notes | None = None


class LeadUpdate(PatchModel):
    """Only the fields sent change; `custom_fields` merges key by key (null removes a key)."""

    example = {"status": "contacted", "score": 60, "tags": ["vip"]}

    full_name: Name | MISSING = MISSING
    company_name: ShortText | MISSING | None = MISSING
    title: Title | MISSING | None = MISSING
    email: Email | MISSING | None = MISSING
    phone: Phone | MISSING | None = MISSING
    status: StatusKey | MISSING = MISSING
    source: LeadSource | MISSING = MISSING
    qualification: Qualification | MISSING = MISSING
    score: Score | MISSING = MISSING
    industry: Area | MISSING | None = MISSING
    province: Area | MISSING | None = MISSING
    owner_id: uuid.UUID | MISSING | None = MISSING
    tags: Tags | MISSING = MISSING
    utm_source: Utm | MISSING | None = MISSING
    utm_medium: Utm | MISSING | None = MISSING
    utm_campaign: Utm | MISSING | None = MISSING
    utm_term: Utm | MISSING | None = MISSING
    utm_content: Utm | MISSING | None = MISSING
    gclid: Utm | MISSING | None = MISSING
    fbclid: Utm | MISSING | None = MISSING
    campaign_id: uuid.UUID | MISSING | None = MISSING
    custom_fields: CustomFieldValues | MISSING = MISSING
    notes: Notes | MISSING | None = MISSING


class LeadRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "phone_e164": "+84912345678",
        "owner_id": "01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f",
        "utm_medium": None,
        "utm_term": None,
        "utm_content": None,
        "gclid": None,
        "fbclid": None,
        "campaign_id": None,
        "form_id": None,
        "submission_id": None,
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
        "updated_at": "2026-11-23T04:00:00Z",
        "deleted_at": None,
        "merged_into_id": None,
        "converted_account_id": None,
        "converted_contact_id": None,
        "converted_deal_id": None,
        "converted_at": None,
    }

    id: uuid.UUID
    full_name: str
    company_name: str | None
    title: str | None
    email: str | None
    phone: str | None
    phone_e164: str | None = Field(
        description="Read-only: the phone in E.164, null if unparseable."
    )
    status: str
    source: LeadSource
    qualification: Qualification
    score: int
    industry: str | None
    province: str | None
    owner_id: uuid.UUID | None
    tags: list[str]
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    gclid: str | None
    fbclid: str | None
    campaign_id: uuid.UUID | None
    form_id: uuid.UUID | None = Field(description="Read-only: the web form it came through.")
    submission_id: uuid.UUID | None = Field(
        description="Read-only: the intake submission it was made from."
    )
    custom_fields: dict[str, Any]
    notes: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    merged_into_id: uuid.UUID | None = Field(
        description="Read-only: the record this one was merged into (it is deleted since)."
    )
    converted_account_id: uuid.UUID | None = Field(description="Read-only: set by conversion.")
    converted_contact_id: uuid.UUID | None = Field(description="Read-only: set by conversion.")
    converted_deal_id: uuid.UUID | None = Field(description="Read-only: set by conversion.")
    converted_at: datetime | None = Field(
        description="Read-only: when it was converted; the lead is read-only from then on."
    )


class LeadQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "updated_at", "full_name", "score")] = "-created_at"
    status: list[StatusKey] | None = Field(None, description="Status keys (repeat for several).")
    status_category: StatusCategory | None = None
    source: list[LeadSource] | None = None
    owner_id: uuid.UUID | None = None
    qualification: Qualification | None = None
    tag: list[Tag] | None = Field(None, description="Leads carrying every given tag.")
    campaign_id: uuid.UUID | None = None
    form_id: uuid.UUID | None = None


LeadQueryParams = Annotated[LeadQuery, Query()]


class LeadStatusLabels(BaseModel):
    vi: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=80)


class LeadStatusCreate(InputModel):
    example = {
        "key": "meeting_booked",
        "category": "qualified",
        "labels": {"vi": "Đã hẹn gặp", "en": "Meeting booked"},
        "position": 55,
    }

    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    category: StatusCategory
    labels: LeadStatusLabels
    position: StrictInt = Field(0, ge=0, le=10_000)


class LeadStatusUpdate(PatchModel):
    """Rename (labels), reorder (position) or retire (`is_active: false`); the key never changes."""

    example = {"labels": {"vi": "Đã liên hệ", "en": "Contacted"}, "position": 25}

    labels: LeadStatusLabels | MISSING = MISSING
    position: StrictInt | MISSING = Field(MISSING, ge=0, le=10_000)
    is_active: bool | MISSING = MISSING


class LeadStatusRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "key": "new",
        "category": "open",
        "position": 10,
        "labels": {"vi": "Mới", "en": "New"},
        "is_active": True,
        "version": 1,
    }

    id: uuid.UUID
    key: str
    category: StatusCategory
    position: int
    labels: LeadStatusLabels
    is_active: bool
    version: int


class LeadStatusList(BaseModel):
    data: list[LeadStatusRead]


class ExistingRecord(InputModel):
    """Link to a record that already exists (one `GET /leads/{id}/convert` suggested, say)."""

    id: uuid.UUID


class ConvertAccount(AccountCreate):
    """A new account; `name` defaults to the lead's company name."""

    name: Name | None = None  # type: ignore[assignment]


class ConvertContact(ContactCreate):
    """A new contact; every field defaults to the lead's (name, email, phone, title, province,
    owner, tags). It is linked to the conversion's account, so `account_id` is not taken."""

    full_name: Name | None = None  # type: ignore[assignment]


class ConvertDeal(InputModel):
    name: Name | None = Field(None, description="Default: the company's or the lead's name.")
    pipeline_id: uuid.UUID | None = Field(None, description="Default: the default pipeline.")
    stage_id: uuid.UUID | None = Field(None, description="Default: its first open stage.")
    amount: AmountIn | None = None
    currency: Currency | None = None
    expected_close_date: date | None = None


class ConvertLead(InputModel):
    """Every part is optional. `account` left out: a new account named after the lead's
    company (none if it has no company); `null`: no account. `contact` left out: a new contact
    made from the lead. `deal` left out or `null`: no deal."""

    example = {
        "account": {"name": "Công ty TNHH Minh Phát", "tax_code": "0312345678"},
        "contact": {"title": "Giám đốc"},
        "deal": {"name": "Minh Phát — 3 xe tải", "amount": "2850000000"},
    }

    account: ExistingRecord | ConvertAccount | None = None
    contact: ExistingRecord | ConvertContact | MISSING = MISSING
    deal: ConvertDeal | None = None


class Conversion(BaseModel):
    lead: LeadRead
    account: AccountRead | None
    contact: ContactRead
    deal: DealRead | None


class ConversionPreview(BaseModel):
    """Existing records that look like the lead, to offer "link to existing"."""

    accounts: list[AccountRead] = Field(description="By email, phone, company name or tax code.")
    contacts: list[ContactRead] = Field(description="By email or phone.")
