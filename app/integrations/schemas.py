import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from fastapi import Query
from pydantic import (
    MISSING,
    Field,
    PlainValidator,
    StringConstraints,
)

from app.core.pagination import RecordListQuery, Sortable
from app.core.schemas import InputModel, Name, PatchModel, ReadModel, Timestamp
from app.leads.schemas import LeadSource

MASK = "***"  # what a secret reads as; sent back in a PATCH, it keeps the stored one


class IntegrationProvider(StrEnum):
    meta = "meta"
    google = "google"
    tiktok = "tiktok"
    generic = "generic"


Secret = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000),
    Field(description=f"Write-only: read back as `{MASK}`; send `{MASK}` to keep it."),
]
GraphId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,30}$")]
FieldMapping = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=200)],
        Annotated[str, StringConstraints(min_length=1, max_length=120)],
    ],
    Field(
        max_length=100,
        description="A question or field as the platform names it → a lead field (`email`, "
        "`province`, …), `custom_fields.<key>` (a custom field declared for leads) or "
        "`notes`. Common names map themselves (`full_name`, `phone_number`, `city`, "
        "`company_name`, `job_title`, Google's `FULL_NAME`…); anything else goes into the "
        "lead's notes as `name: value`.",
    ),
]
Path = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ProviderConfig(InputModel):
    """A provider's settings; `secrets` name the write-only ones."""

    secrets: ClassVar[tuple[str, ...]] = ()


class MetaConfig(ProviderConfig):
    """Facebook and Instagram Lead Ads, from a Meta app subscribed to the page's `leadgen`."""

    secrets = ("app_secret", "verify_token", "page_access_token")
    example = {
        "app_secret": "9f2c…",
        "verify_token": "minh-phat-2027",
        "page_access_token": "EAAG…",
        "form_ids": ["1234567890123456"],
        "mapping": {"dòng_xe_quan_tâm": "notes"},
    }

    app_secret: Secret = Field(description="The Meta app's secret: checks X-Hub-Signature-256.")
    verify_token: Secret = Field(description="Any text you choose; give Meta the same.")
    page_access_token: Secret = Field(
        description="A page token with `leads_retrieval`: the worker reads each lead with it."
    )
    form_ids: list[GraphId] = Field(
        default_factory=list, max_length=50, description="Lead forms a backfill reads."
    )
    mapping: FieldMapping = Field(default_factory=dict)


class GoogleConfig(ProviderConfig):
    """Google Ads lead form webhooks."""

    secrets = ("google_key",)
    example = {"google_key": "khoa-bi-mat-2027", "mapping": {"QUESTION_1": "notes"}}

    google_key: Secret = Field(description="The key set on the lead form's webhook in Google Ads.")
    mapping: FieldMapping = Field(default_factory=dict)


class SignedConfig(ProviderConfig):
    """TikTok Lead Generation: JSON signed with the app's secret."""

    secrets = ("secret",)
    example = {
        "secret": "0b5d3c7e9a1f4e2b8c6d0a9e7f3b1c5d",
        "id_field": "lead_id",
        "mapping": {"answers.ho_ten": "full_name"},
    }

    secret: Secret = Field(description="Signs each post (HMAC-SHA256); at least 16 characters.")
    id_field: Path | None = Field(
        "lead_id",
        description="Where a lead's own id is (a dotted path): a lead sent again with the same "
        "id is the same submission. Null: every post is a new one.",
    )
    mapping: FieldMapping = Field(default_factory=dict)


class GenericConfig(SignedConfig):
    """Any other source that can sign JSON: landing-page builders, Zalo forms, scripts."""

    example = {**SignedConfig.example, "source": "zalo"}

    source: LeadSource = Field(LeadSource.other, description="The source its leads get.")


CONFIGS: dict[IntegrationProvider, type[ProviderConfig]] = {
    IntegrationProvider.meta: MetaConfig,
    IntegrationProvider.google: GoogleConfig,
    IntegrationProvider.tiktok: SignedConfig,
    IntegrationProvider.generic: GenericConfig,
}
AnyConfig = MetaConfig | GoogleConfig | SignedConfig | GenericConfig


def _an_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("the provider's settings, as an object")
    return value


# Checked against the provider's model by the service (422 naming `config.<field>`).
ConfigIn = Annotated[
    dict[str, Any],
    PlainValidator(_an_object, json_schema_input_type=AnyConfig),
    Field(
        description="The provider's settings: `MetaConfig`, `GoogleConfig`, `SignedConfig` "
        "(tiktok) or `GenericConfig`."
    ),
]

_EXAMPLE_IN: dict[str, Any] = {
    "provider": "meta",
    "name": "Fanpage Minh Phát",
    "config": MetaConfig.example,
    "campaign_id": None,
    "active": True,
}


class IntegrationCreate(InputModel):
    example = _EXAMPLE_IN

    provider: IntegrationProvider
    name: Name
    config: ConfigIn
    campaign_id: uuid.UUID | None = Field(None, description="The campaign its leads join.")
    active: bool = True


class IntegrationUpdate(PatchModel):
    """Only the fields sent change; the provider never does. `config` is replaced whole:
    send it as read, secrets as `***` to keep them."""

    example = {"active": False}

    name: Name | MISSING = MISSING
    config: ConfigIn | MISSING = MISSING
    campaign_id: uuid.UUID | MISSING | None = MISSING
    active: bool | MISSING = MISSING


class IntegrationRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5eb0",
        "config": {
            **MetaConfig.example,
            "app_secret": MASK,
            "verify_token": MASK,
            "page_access_token": MASK,
        },
        "webhook_url": "https://crm.minhphat.vn/api/v1/intake/meta/01936f4e-8a4b-7c3d-9e2f-"
        "1a2b3c4d5eb0",
        "version": 1,
        "created_at": "2026-12-04T04:00:00Z",
        "updated_at": "2026-12-04T04:00:00Z",
        "deleted_at": None,
    }

    id: uuid.UUID
    provider: IntegrationProvider
    name: str
    config: AnyConfig = Field(description=f"Its settings, every secret shown as `{MASK}`.")
    campaign_id: uuid.UUID | None
    active: bool
    webhook_url: str = Field(description="Where the platform posts its leads (no token needed).")
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class IntegrationQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "name")] = "-created_at"
    provider: IntegrationProvider | None = None
    active: bool | None = None
    campaign_id: uuid.UUID | None = None


IntegrationQueryParams = Annotated[IntegrationQuery, Query()]


class Backfill(InputModel):
    """Leads created in [from, to) on the integration's Meta lead forms."""

    example = {"from": "2026-12-01T00:00:00+07:00", "to": "2026-12-03T00:00:00+07:00"}

    from_: Timestamp = Field(alias="from", description="Created at or after this time.")
    to: Timestamp = Field(description="Created before this time; at most 90 days after `from`.")
    form_ids: list[GraphId] | None = Field(
        None, max_length=50, description="Lead forms to read; default: the config's `form_ids`."
    )


class BackfillRead(ReadModel):
    example = {"fetched": 42, "stored": 3, "redelivered": 39, "truncated": False}

    fetched: int = Field(description="Leads Meta listed in the range.")
    stored: int = Field(description="New submissions: the worker makes their leads.")
    redelivered: int = Field(description="Already received (by webhook or a backfill before).")
    truncated: bool = Field(description="More leads than one backfill reads: narrow the range.")
