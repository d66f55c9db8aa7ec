import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from app.core.schemas import ReadModel
from app.imports.columns import ColumnMapping


class ImportResource(StrEnum):
    lead = "lead"
    contact = "contact"
    account = "account"


class DedupePolicy(StrEnum):
    """What a row the duplicate rules match becomes."""

    skip = "skip"  # counted `skipped`
    update = "update"  # the strongest match of the same resource takes the row's values
    create = "create"  # saved anyway past `warn` rules; a `block` rule still refuses it


class ImportStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"


class ImportRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90",
        "resource": "lead",
        "filename": "khach-hang-hoi-cho.xlsx",
        "dedupe_policy": "skip",
        "dry_run": False,
        "status": "running",
        "total_rows": 1200,
        "processed_rows": 400,
        "created": 371,
        "updated": 0,
        "skipped": 25,
        "failed": 4,
        "mapping": {
            "resource": "lead",
            "fields": {"Họ và tên": "full_name", "SĐT": "phone", "Công ty": "company_name"},
            "automatic": ["Họ và tên", "SĐT", "Công ty"],
            "unmapped": ["STT"],
            "missing": [],
        },
        "error": None,
        "requested_by": "01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f",
        "created_at": "2026-12-02T04:00:00Z",
        "started_at": "2026-12-02T04:00:01Z",
        "finished_at": None,
    }

    id: uuid.UUID
    resource: ImportResource
    filename: str
    dedupe_policy: DedupePolicy
    dry_run: bool = Field(description="Validated and counted only: nothing was written.")
    status: ImportStatus = Field(description="`queued`, `running`, `completed` or `failed`.")
    total_rows: int | None = Field(
        description="Data rows in the file (blank rows not counted); null until the worker "
        "has looked, and an estimate from the workbook's own dimension until it completes."
    )
    processed_rows: int = Field(description="Rows done so far: the progress bar's value.")
    created: int
    updated: int
    skipped: int = Field(description="Rows the duplicate rules matched (dedupe_policy `skip`).")
    failed: int = Field(description="Rows not saved: see `GET /imports/{id}/errors`.")
    mapping: ColumnMapping = Field(description="Which column fills which field.")
    error: str | None = Field(description="Why the import failed as a whole.")
    requested_by: uuid.UUID
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
