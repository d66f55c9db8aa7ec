import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    MISSING,
    BaseModel,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from app.core.limits import CUSTOM_FIELD_TEXT_CHARS
from app.core.schemas import InputModel, PatchModel, ReadModel


class CustomFieldResource(StrEnum):
    lead = "lead"
    account = "account"
    contact = "contact"
    deal = "deal"


class CustomFieldType(StrEnum):
    text = "text"
    number = "number"
    date = "date"
    boolean = "boolean"
    select = "select"
    multiselect = "multiselect"


Option = Annotated[str, StringConstraints(min_length=1, max_length=100)]
FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]

_EXAMPLE = {
    "resource": "lead",
    "key": "budget_range",
    "label": "Ngân sách",
    "type": "select",
    "options": ["< 100 triệu", "100–500 triệu", "> 500 triệu"],
    "required": False,
}


class CustomFieldCreate(InputModel):
    example = _EXAMPLE

    resource: CustomFieldResource
    key: FieldKey = Field(description="Stable key used in `custom_fields` objects.")
    label: str = Field(min_length=1, max_length=120)
    type: CustomFieldType = Field(
        description=f"A `text` value holds at most {CUSTOM_FIELD_TEXT_CHARS} characters."
    )
    options: list[Option] = Field(default_factory=list, max_length=200)
    required: bool = False
    position: StrictInt = Field(0, ge=0, le=10_000)

    @model_validator(mode="after")
    def _options_fit_type(self) -> "CustomFieldCreate":
        choice = self.type in (CustomFieldType.select, CustomFieldType.multiselect)
        if choice and not self.options:
            raise ValueError("select and multiselect fields need options")
        if not choice and self.options:
            raise ValueError("only select and multiselect fields take options")
        return self


class CustomFieldUpdate(PatchModel):
    example = {"label": "Budget", "required": True}

    label: str | MISSING = Field(MISSING, min_length=1, max_length=120)
    options: list[Option] | MISSING = Field(MISSING, max_length=200)
    required: bool | MISSING = MISSING
    position: StrictInt | MISSING = Field(MISSING, ge=0, le=10_000)


class CustomFieldRead(ReadModel):
    example = {
        **_EXAMPLE,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "position": 0,
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
        "updated_at": "2026-11-23T04:00:00Z",
    }

    id: uuid.UUID
    resource: CustomFieldResource
    key: str
    label: str
    type: CustomFieldType
    options: list[str]
    required: bool
    position: int
    version: int
    created_at: datetime
    updated_at: datetime


class CustomFieldList(BaseModel):
    data: list[CustomFieldRead]
