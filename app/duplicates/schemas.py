import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from fastapi import Query
from pydantic import MISSING, BaseModel, ConfigDict, Field, StringConstraints

from app.core.pagination import PageQuery, RecordListQuery, Sortable
from app.core.records import DuplicatePolicy
from app.core.schemas import InputModel, Name, PatchModel, ReadModel


class DuplicateResource(StrEnum):
    lead = "lead"
    contact = "contact"
    account = "account"


class DuplicateAction(StrEnum):
    warn = "warn"  # 409 `possible_duplicate` unless the client says "save anyway"
    block = "block"  # 409 `duplicate`, always


class MatchKind(StrEnum):
    exact = "exact"
    fuzzy = "fuzzy"


class RuleField(StrEnum):
    """What a criterion compares. People (leads, contacts): full_name, email, phone,
    company_name (a contact's: its primary account's name). Accounts: name, tax_code, email,
    phone."""

    full_name = "full_name"
    name = "name"
    email = "email"
    phone = "phone"
    company_name = "company_name"
    tax_code = "tax_code"


DEFAULT_THRESHOLD = 0.9


class Criterion(BaseModel):
    fields: list[RuleField] = Field(
        min_length=1,
        max_length=4,
        description="Every field must match; one blank in either record never matches.",
    )
    match: MatchKind = Field(
        MatchKind.exact,
        description="`exact` compares normalised values (E.164 phones, emails in lower case "
        "without Gmail's dots and `+tag`, names without case, diacritics or word order); "
        "`fuzzy` scores them with Jaro-Winkler.",
    )
    threshold: float | None = Field(
        None,
        ge=0.5,
        le=1.0,
        description=f"For `fuzzy`: the lowest score (0.5–1) that matches; default "
        f"{DEFAULT_THRESHOLD}.",
    )


Criteria = Annotated[
    list[Criterion],
    Field(min_length=1, max_length=5, description="All of them must hold."),
]

_EXAMPLE_IN = {
    "resource": "lead",
    "name": "Tên và công ty gần giống",
    "action": "warn",
    "active": True,
    "criteria": [
        {"fields": ["full_name"], "match": "fuzzy", "threshold": 0.9},
        {"fields": ["company_name"], "match": "fuzzy", "threshold": 0.85},
    ],
}


class DuplicateRuleCreate(InputModel):
    example = _EXAMPLE_IN

    resource: DuplicateResource
    name: Name
    action: DuplicateAction = DuplicateAction.warn
    active: bool = True
    criteria: Criteria


class DuplicateRuleUpdate(PatchModel):
    """Only the fields sent change; `resource` is fixed once made."""

    example = {"action": "block"}

    name: Name | MISSING = MISSING
    action: DuplicateAction | MISSING = MISSING
    active: bool | MISSING = MISSING
    criteria: Criteria | MISSING = MISSING


class DuplicateRuleRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ea0",
        "version": 1,
        "created_at": "2026-12-03T04:00:00Z",
        "updated_at": "2026-12-03T04:00:00Z",
        "deleted_at": None,
    }

    id: uuid.UUID
    resource: DuplicateResource
    name: str
    action: DuplicateAction
    active: bool
    criteria: list[Criterion]
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class DuplicateRuleQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "name")] = Field(
        "created_at", description="A sortable field; `-` for descending."
    )
    resource: DuplicateResource | None = Field(None, description="Rules for this kind only.")
    active: bool | None = None


DuplicateRuleQueryParams = Annotated[DuplicateRuleQuery, Query()]


class RuleRef(BaseModel):
    id: uuid.UUID
    name: str
    action: DuplicateAction


class Duplicate(BaseModel):
    """A record the rules take for the same person or company."""

    resource: DuplicateResource
    id: uuid.UUID
    score: float = Field(description="How alike, 0–1 (1: every criterion matched exactly).")
    rule: RuleRef = Field(description="The rule that matched (the strongest, if several).")


class Duplicates(ReadModel):
    example = {
        "duplicates": [
            {
                "resource": "contact",
                "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
                "score": 1.0,
                "rule": {
                    "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5ea1",
                    "name": "Cùng số điện thoại",
                    "action": "warn",
                },
            }
        ]
    }

    duplicates: list[Duplicate] = Field(description="Strongest first; at most 20.")


class CheckedRecord(BaseModel):
    """The fields the rules compare; any other field of a record sent here is ignored."""

    model_config = ConfigDict(extra="ignore")

    full_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="An account's name."
    )
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    company_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    tax_code: Annotated[str, StringConstraints(max_length=20)] | None = None


class DuplicateCheckRequest(InputModel):
    example = {
        "resource": "lead",
        "record": {
            "full_name": "Nguyen Van Anh",
            "phone": "0912.345.678",
            "company_name": "Minh Phát",
        },
    }

    resource: DuplicateResource
    record: CheckedRecord = Field(
        description="The record as it would be saved: the fields the rules compare are read "
        "(full_name or name, email, phone, company_name, tax_code); others are ignored."
    )


AllowDuplicates = Annotated[
    bool,
    Query(
        description="Save even though a `warn` duplicate rule matches: the user chose “save "
        "anyway” on a 409 `possible_duplicate`. `block` rules still refuse (409 `duplicate`)."
    ),
]


def duplicate_policy(allow_duplicates: bool) -> DuplicatePolicy:
    return DuplicatePolicy.allowed if allow_duplicates else DuplicatePolicy.ask


class ScanStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"


class DuplicateScanCreate(InputModel):
    example = {"resource": "contact"}

    resource: DuplicateResource


class DuplicateScanRead(ReadModel):
    """How far a scan got: `scanned` of `total` records, and how many groups it found."""

    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5eb0",
        "resource": "contact",
        "status": "running",
        "total": 120000,
        "scanned": 48000,
        "groups": 312,
        "error": None,
        "created_at": "2026-12-03T04:00:00Z",
        "started_at": "2026-12-03T04:00:01Z",
        "finished_at": None,
    }

    id: uuid.UUID
    resource: DuplicateResource
    status: ScanStatus
    total: int
    scanned: int
    groups: int = Field(description="Groups found so far; listed once the scan is completed.")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class GroupMember(BaseModel):
    resource: DuplicateResource
    id: uuid.UUID


class DuplicateGroup(BaseModel):
    """Records the rules take for one person or company: each is a duplicate of another in
    the group (pairs joined), ready to merge."""

    rank: int = Field(description="1 for the strongest group; the list's order.")
    records: list[GroupMember]
    score: float = Field(description="The strongest pair's score in the group, 0–1.")
    rules: list[str] = Field(description="The names of the rules that matched its pairs.")


class DuplicateGroupQuery(PageQuery):
    sort: ClassVar[str] = "rank"


DuplicateGroupQueryParams = Annotated[DuplicateGroupQuery, Query()]
