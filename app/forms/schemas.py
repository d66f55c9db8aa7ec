import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Query
from pydantic import (
    MISSING,
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from app.core.pagination import RecordListQuery, Sortable
from app.core.schemas import InputModel, Name, PatchModel, ReadModel, Tags
from app.leads.schemas import LeadSource, StatusKey

MAX_FIELDS = 50
MAX_OPTIONS = 100
# Lead fields a form field may fill: its own name when it is one of these, or its `mapping`.
LEAD_FIELDS = frozenset(
    {
        "full_name", "first_name", "last_name", "company_name", "title", "email", "phone",
        "industry", "province", "notes", "utm_source", "utm_medium", "utm_campaign", "utm_term",
        "utm_content", "gclid", "fbclid",
    }
)  # fmt: skip
CUSTOM_FIELD_PREFIX = "custom_fields."


class FieldType(StrEnum):
    text = "text"
    email = "email"
    tel = "tel"
    textarea = "textarea"
    select = "select"
    checkbox = "checkbox"
    hidden = "hidden"


FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Option = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("an origin is a scheme and a host, e.g. https://minhphat.vn")
    if parts.query or parts.fragment or parts.username:
        raise ValueError("an origin is a scheme and a host, e.g. https://minhphat.vn")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _web_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http(s) URL, e.g. https://minhphat.vn/cam-on")
    return value


Origin = Annotated[str, StringConstraints(max_length=300), AfterValidator(_origin)]
WebUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_web_url)]


class FormField(BaseModel):
    model_config = {"extra": "forbid"}

    name: FieldName = Field(description="What the field is posted as, e.g. `full_name`.")
    label: Label = Field(description="Shown beside the field (Vietnamese, say).")
    label_en: Label | None = Field(None, description="Shown when the page is read in English.")
    type: FieldType = FieldType.text
    required: StrictBool = False
    options: list[Option] = Field(
        default_factory=list, max_length=MAX_OPTIONS, description="The choices of a `select`."
    )

    @model_validator(mode="after")
    def _options_for_select(self) -> "FormField":
        if self.type is FieldType.select and not self.options:
            raise ValueError("a select field needs options")
        return self


Mapping = Annotated[
    dict[FieldName, Annotated[str, StringConstraints(max_length=120)]],
    Field(
        description="Form field → lead field (`email`, `province`, …), `custom_fields.<key>` "
        "(a custom field declared for leads) or `notes`. A field named like a lead field maps "
        "itself; any other field not mapped goes into the lead's notes as `label: value`."
    ),
]

_FIELDS_EXAMPLE = [
    {"name": "full_name", "label": "Họ và tên", "label_en": "Full name", "required": True},
    {"name": "phone", "label": "Số điện thoại", "label_en": "Phone", "type": "tel",
     "required": True},
    {"name": "email", "label": "Email", "type": "email"},
    {"name": "model", "label": "Dòng xe quan tâm", "label_en": "Model", "type": "select",
     "options": ["Vios", "Corolla Cross", "Fortuner"]},
]  # fmt: skip
_EXAMPLE_IN: dict[str, Any] = {
    "name": "Đăng ký lái thử",
    "fields": _FIELDS_EXAMPLE,
    "mapping": {"model": "notes"},
    "campaign_id": None,
    "default_source": "form",
    "default_status": "new",
    "tags": ["lái thử"],
    "allowed_origins": ["https://minhphat.vn"],
    "honeypot_field": "_gotcha",
    "redirect_url": "https://minhphat.vn/cam-on",
    "consent_text": "Tôi đồng ý để Minh Phát liên hệ tư vấn.",
    "active": True,
}


def _fields_are_unique(fields: list[FormField]) -> list[FormField]:
    names = [f.name for f in fields]
    if len(names) != len(set(names)):
        raise ValueError("field names must be unique")
    return fields


Fields = Annotated[
    list[FormField], Field(min_length=1, max_length=MAX_FIELDS), AfterValidator(_fields_are_unique)
]
Origins = Annotated[list[Origin], Field(max_length=20)]
ConsentText = Annotated[str, StringConstraints(max_length=2000)]


class FormCreate(InputModel):
    example = _EXAMPLE_IN

    name: Name
    fields: Fields
    mapping: Mapping = Field(default_factory=dict)
    campaign_id: uuid.UUID | None = None
    default_source: LeadSource = LeadSource.form
    default_status: StatusKey | None = Field(None, description="A lead-status key; default `new`.")
    default_owner_id: uuid.UUID | None = Field(
        None, description="Who gets its leads when no assignment rule does; default: the owner."
    )
    tags: Tags = Field(default_factory=list, description="Put on every lead it makes.")
    allowed_origins: Origins = Field(
        default_factory=list,
        description="Websites whose pages may post to it from the browser (CORS), e.g. "
        "`https://minhphat.vn`. Sen's hosted page and plain HTML form posts need none.",
    )
    honeypot_field: FieldName = Field(
        "_gotcha", description="A hidden field people leave empty; a post that fills it is spam."
    )
    redirect_url: WebUrl | None = Field(
        None, description="Where a browser's plain form post is sent after it is accepted (303)."
    )
    consent_text: ConsentText | None = None
    active: bool = True


class FormUpdate(PatchModel):
    """Only the fields sent change; the key never does."""

    example = {"active": False}

    name: Name | MISSING = MISSING
    fields: Fields | MISSING = MISSING
    mapping: Mapping | MISSING = MISSING
    campaign_id: uuid.UUID | MISSING | None = MISSING
    default_source: LeadSource | MISSING = MISSING
    default_status: StatusKey | MISSING | None = MISSING
    default_owner_id: uuid.UUID | MISSING | None = MISSING
    tags: Tags | MISSING = MISSING
    allowed_origins: Origins | MISSING = MISSING
    honeypot_field: FieldName | MISSING = MISSING
    redirect_url: WebUrl | MISSING | None = MISSING
    consent_text: ConsentText | MISSING | None = MISSING
    active: bool | MISSING = MISSING


class FormRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e91",
        "key": "p1mS8gqFZ0yJr3kHq7cV2nL5tW9xA4bD",
        "default_owner_id": None,
        "post_url": "https://crm.minhphat.vn/api/v1/intake/forms/p1mS8gqFZ0yJr3kHq7cV2nL5tW9xA4bD",
        "hosted_url": "https://crm.minhphat.vn/f/p1mS8gqFZ0yJr3kHq7cV2nL5tW9xA4bD",
        "embed_html": '<form action="https://crm.minhphat.vn/api/v1/intake/forms/p1mS…" '
        'method="post">…</form>',
        "version": 1,
        "created_at": "2026-12-02T04:00:00Z",
        "updated_at": "2026-12-02T04:00:00Z",
        "deleted_at": None,
    }

    id: uuid.UUID
    name: str
    key: str = Field(description="Public: what a website posts with. Unguessable (192 bits).")
    fields: list[FormField]
    mapping: dict[str, str]
    campaign_id: uuid.UUID | None
    default_source: LeadSource
    default_status: str | None
    default_owner_id: uuid.UUID | None
    tags: list[str]
    allowed_origins: list[str]
    honeypot_field: str
    redirect_url: str | None
    consent_text: str | None
    active: bool
    post_url: str = Field(description="Where a website posts submissions (no token needed).")
    hosted_url: str = Field(description="Sen's own page for the form, to link to or share.")
    embed_html: str = Field(description="A ready-to-paste HTML form that posts here.")
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class FormQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "name")] = "-created_at"
    active: bool | None = None
    campaign_id: uuid.UUID | None = None


FormQueryParams = Annotated[FormQuery, Query()]
