import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field, StringConstraints

from app.core.schemas import InputModel, ReadModel


class ExportResource(StrEnum):
    lead = "lead"
    contact = "contact"
    account = "account"
    deal = "deal"


class ExportFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


class ExportStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"


class HeaderLanguage(StrEnum):
    en = "en"
    vi = "vi"


FILTERS_MAX_BYTES = 4096


def _small(filters: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(orjson.dumps(filters))
    except TypeError:  # a number JSON parsed but no filter could hold (past 64 bits)
        raise ValueError("holds a number too large for any filter") from None
    if size > FILTERS_MAX_BYTES:
        raise ValueError(f"at most {FILTERS_MAX_BYTES} bytes as JSON")
    return filters


ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=80)]


class ExportCreate(InputModel):
    example = {
        "resource": "lead",
        "format": "xlsx",
        "filters": {"status": ["new", "hot"], "source": ["facebook"], "q": "nguyen"},
        "columns": ["full_name", "phone", "email", "status", "province", "created_at"],
    }

    resource: ExportResource
    format: ExportFormat = ExportFormat.xlsx
    filters: Annotated[dict[str, Any], AfterValidator(_small)] = Field(
        default_factory=dict,
        description="The resource's list filters, by the names its list endpoint takes as "
        "query parameters (`status`, `owner_id`, `q`, `created_after`, `sort`, …); a name "
        "there is none of is a 422 naming `filters.<name>`. `limit` and `cursor` don't apply: "
        "every matching record you can see is exported. At most "
        f"{FILTERS_MAX_BYTES} bytes as compact UTF-8 JSON.",
    )
    columns: list[ColumnName] | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Columns in order: the resource's fields (as its read model names them) "
        "and `custom_fields.<key>` for a custom field. Default: every field of the resource.",
    )


class ExportRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e80",
        "resource": "lead",
        "format": "xlsx",
        "lang": "vi",
        "filters": {"status": ["new", "hot"]},
        "columns": ["full_name", "phone", "status"],
        "status": "completed",
        "rows": 1250,
        "error": None,
        "requested_by": "01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f",
        "filename": "leads-2026-11-23.xlsx",
        "size": 48213,
        "created_at": "2026-11-23T04:00:00Z",
        "started_at": "2026-11-23T04:00:01Z",
        "finished_at": "2026-11-23T04:00:03Z",
        "expires_at": "2026-11-24T04:00:03Z",
    }

    id: uuid.UUID
    resource: ExportResource
    format: ExportFormat
    lang: HeaderLanguage
    filters: dict[str, Any]
    columns: list[str]
    status: ExportStatus = Field(description="`queued`, `running`, `completed` or `failed`.")
    rows: int = Field(description="Records in the file (0 until it is completed).")
    error: str | None = Field(description="Why it failed.")
    requested_by: uuid.UUID
    filename: str | None = Field(description="The file's name once completed.")
    size: int | None = Field(description="The file's size in bytes once completed.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = Field(
        description="When the file is deleted (SEN_EXPORT_TTL_HOURS after it was written)."
    )
