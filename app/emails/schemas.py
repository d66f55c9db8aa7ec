import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Query
from pydantic import MISSING, Field, StrictInt, StringConstraints

from app.core.pagination import RecordListQuery, Sortable, SortedQuery
from app.core.schemas import Email, InputModel, Name, PatchModel, ReadModel

TemplateSubject = Annotated[str, StringConstraints(min_length=1, max_length=500)]
TemplateBody = Annotated[str, StringConstraints(max_length=100_000)]
_VARIABLES = (
    "Jinja2 variables: `contact.<field>` (full_name, first_name, last_name, email, phone, "
    "title, birthday, gender, province, tags, custom_fields), `deal.<field>` (name, amount, "
    "currency, probability, expected_close_date, status, closed_at, lost_reason, tags, "
    "custom_fields), `owner.full_name`, `owner.email`, `unsubscribe_url`; filters `vnd` "
    "(`{{ deal.amount | vnd }}` → `1.500.000 ₫`) and `date_vn` (`03/12/2026`) besides "
    "Jinja2's own."
)

_TEMPLATE_EXAMPLE = {
    "name": "Chúc mừng sinh nhật",
    "subject": "Chúc mừng sinh nhật {{ contact.full_name }}!",
    "body_html": "<p>Kính gửi {{ contact.full_name }},</p><p>Chúc anh/chị một tuổi mới "
    "an khang.</p><p>{{ owner.full_name }}</p>",
    "body_text": "Kính gửi {{ contact.full_name }},\n\nChúc anh/chị một tuổi mới an khang.\n\n"
    "{{ owner.full_name }}",
}


class EmailTemplateCreate(InputModel):
    """A template that fails to parse or names an unknown variable, field or filter is a 422
    `template_invalid` naming the part and the line."""

    example = _TEMPLATE_EXAMPLE

    name: Name
    subject: TemplateSubject = Field(description=f"One line. {_VARIABLES}")
    body_html: TemplateBody = Field("", description="HTML; values are escaped.")
    body_text: TemplateBody = Field("", description="Plain text, for mail clients without HTML.")


class EmailTemplateUpdate(PatchModel):
    """Only the fields sent change; each is checked as on create."""

    example = {"subject": "Chúc mừng sinh nhật anh/chị {{ contact.full_name }}"}

    name: Name | MISSING = MISSING
    subject: TemplateSubject | MISSING = MISSING
    body_html: TemplateBody | MISSING = MISSING
    body_text: TemplateBody | MISSING = MISSING


class EmailTemplateRead(ReadModel):
    example = {
        **_TEMPLATE_EXAMPLE,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ea0",
        "version": 1,
        "created_at": "2026-12-03T04:00:00Z",
        "updated_at": "2026-12-03T04:00:00Z",
        "deleted_at": None,
    }

    id: uuid.UUID
    name: str
    subject: str
    body_html: str
    body_text: str
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class EmailTemplateQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "name")] = Field(
        "-created_at", description="A sortable field; `-` for descending."
    )


EmailTemplateQueryParams = Annotated[EmailTemplateQuery, Query()]


class EmailRecordType(StrEnum):
    contact = "contact"
    deal = "deal"


class PreviewRequest(InputModel):
    example = {"record_type": "contact", "record_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e71"}

    record_type: EmailRecordType
    record_id: uuid.UUID = Field(description="A record of `record_type` you can see.")


class Preview(ReadModel):
    """A template rendered for one record, as it would be sent (unsubscribe link shown as
    the one a marketing email would carry)."""

    example = {
        "subject": "Chúc mừng sinh nhật Nguyễn Văn Ánh!",
        "body_html": "<p>Kính gửi Nguyễn Văn Ánh,</p>",
        "body_text": "Kính gửi Nguyễn Văn Ánh,",
        "to": "anh.nguyen@minhphat.vn",
    }

    subject: str
    body_html: str
    body_text: str
    to: str | None = Field(description="The recipient's address; null when they have none.")


class SmtpSecurity(StrEnum):
    none = "none"
    starttls = "starttls"
    tls = "tls"


Host = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\s/]+$")]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]


class MailSettingsWrite(InputModel):
    example = {
        "host": "smtp.minhphat.vn",
        "port": 587,
        "security": "starttls",
        "username": "crm@minhphat.vn",
        "password": "mật-khẩu-smtp",
        "from_email": "crm@minhphat.vn",
        "from_name": "Ô tô Minh Phát",
        "per_minute": 60,
    }

    host: Host
    port: Port
    security: SmtpSecurity
    username: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    password: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        None,
        description="Write-only: never read back (see `password_set`). Leave it out to keep "
        "the stored one; send null to remove it.",
    )
    from_email: Email
    from_name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\r\n]*$")] | None = (
        Field(None, description="The sender's name, e.g. the company's; one line.")
    )
    per_minute: StrictInt = Field(
        60, ge=1, le=10_000, description="Emails the SMTP account may send a minute."
    )


class MailCheckStatus(StrEnum):
    checking = "checking"
    ok = "ok"
    failed = "failed"


class MailSettingsRead(ReadModel):
    example = {
        "host": "smtp.minhphat.vn",
        "port": 587,
        "security": "starttls",
        "username": "crm@minhphat.vn",
        "password_set": True,
        "from_email": "crm@minhphat.vn",
        "from_name": "Ô tô Minh Phát",
        "per_minute": 60,
        "check_status": "ok",
        "check_error": None,
        "checked_at": "2026-12-03T04:00:05Z",
        "updated_at": "2026-12-03T04:00:00Z",
    }

    host: str
    port: int
    security: SmtpSecurity
    username: str | None
    password_set: bool = Field(description="Whether a password is stored (it is never shown).")
    from_email: str
    from_name: str | None
    per_minute: int
    check_status: MailCheckStatus | None = Field(
        description="The last check (`POST /mail-settings/test`): `checking` until a worker "
        "has connected and signed in, then `ok` or `failed` (see `check_error`); null: never "
        "checked since the settings last changed."
    )
    check_error: str | None
    checked_at: datetime | None
    updated_at: datetime


class EmailSend(InputModel):
    """Either `template_id`, or `subject` and at least one body."""

    example = {
        "record_type": "contact",
        "record_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e71",
        "template_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ea0",
    }

    record_type: EmailRecordType
    record_id: uuid.UUID = Field(description="A record of `record_type` you can see.")
    template_id: uuid.UUID | None = None
    subject: TemplateSubject | None = Field(None, description="With no `template_id`.")
    body_html: TemplateBody | None = None
    body_text: TemplateBody | None = None
    to: Email | None = Field(
        None,
        description="Default: the contact's email (a deal's: its contact's). The contact's "
        "`do_not_contact` holds whatever the address.",
    )
    marketing: bool = Field(
        False, description="A marketing email carries an unsubscribe link and header."
    )


class EmailStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"


class EmailRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5eb0",
        "record_type": "contact",
        "record_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e71",
        "contact_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e71",
        "template_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ea0",
        "activity_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5eb1",
        "marketing": False,
        "to_email": "anh.nguyen@minhphat.vn",
        "to_name": "Nguyễn Văn Ánh",
        "subject": "Chúc mừng sinh nhật Nguyễn Văn Ánh!",
        "message_id": "<01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5eb0@minhphat.vn>",
        "status": "queued",
        "error": None,
        "attempts": 0,
        "created_at": "2026-12-03T04:00:00Z",
        "sent_at": None,
    }

    id: uuid.UUID
    record_type: EmailRecordType
    record_id: uuid.UUID
    contact_id: uuid.UUID | None
    template_id: uuid.UUID | None
    activity_id: uuid.UUID = Field(description="Its `email` activity on the record's timeline.")
    marketing: bool
    to_email: str
    to_name: str | None
    subject: str
    message_id: str = Field(description="The `Message-ID` header, the same on every try.")
    status: EmailStatus
    error: str | None = Field(description="Why it failed, or why its last try did.")
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class EmailQuery(SortedQuery):
    sort: Annotated[str, Sortable("created_at")] = Field(
        "-created_at", description="`created_at`; `-` for newest first."
    )
    record_type: EmailRecordType = Field(description="The kind of record the emails are about.")
    record_id: uuid.UUID = Field(description="The record (one you can see).")
    status: list[EmailStatus] | None = Field(None, description="Statuses (repeat for several).")


EmailQueryParams = Annotated[EmailQuery, Query()]
