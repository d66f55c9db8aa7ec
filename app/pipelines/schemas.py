import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import MISSING, BaseModel, Field, StrictInt, StringConstraints

from app.core.limits import STAGES_PER_PIPELINE
from app.core.schemas import InputModel, PatchModel, ReadModel


class StageKind(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"


StageName = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Probability = Annotated[StrictInt, Field(ge=0, le=100, description="Chance to win, 0–100 %.")]
Position = Annotated[StrictInt, Field(ge=0, le=10_000)]


class StageCreate(InputModel):
    example = {"name": "Lái thử", "name_en": "Test drive", "probability": 40, "kind": "open"}

    name: StageName
    name_en: StageName | None = None
    probability: Probability
    kind: StageKind
    position: Position | None = Field(
        None,
        description="Where it goes (onto another stage's position: before that stage, which "
        "shifts down with those after it); default: after the pipeline's last stage.",
    )


class StageUpdate(PatchModel):
    """Rename, re-weigh or move a stage; its kind is fixed (deals' status depends on it)."""

    example = {"name": "Đàm phán giá", "probability": 70}

    name: StageName | MISSING = MISSING
    name_en: StageName | MISSING | None = MISSING
    probability: Probability | MISSING = MISSING
    position: Position | MISSING = Field(
        MISSING,
        description="Where it goes; onto another stage's position: before that stage, which "
        "shifts down with those after it.",
    )


class StageRead(ReadModel):
    id: uuid.UUID
    name: str
    name_en: str | None
    position: int
    probability: int
    kind: StageKind
    is_active: bool = Field(description="False once retired: kept for history, not assignable.")


class NewPipelineStage(InputModel):
    name: StageName
    name_en: StageName | None = None
    probability: Probability
    kind: StageKind


class PipelineCreate(InputModel):
    """A pipeline and its stages, in order, in one call: at least one open, one won and one lost
    stage."""

    example = {
        "name": "Bán xe",
        "is_default": False,
        "stages": [
            {"name": "Tiếp cận", "name_en": "Prospecting", "probability": 10, "kind": "open"},
            {"name": "Lái thử", "name_en": "Test drive", "probability": 40, "kind": "open"},
            {"name": "Đặt cọc", "name_en": "Deposit", "probability": 80, "kind": "open"},
            {"name": "Thắng", "name_en": "Won", "probability": 100, "kind": "won"},
            {"name": "Thua", "name_en": "Lost", "probability": 0, "kind": "lost"},
        ],
    }

    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    is_default: bool = Field(False, description="Where deals go when none is named.")
    stages: list[NewPipelineStage] = Field(
        min_length=3,
        max_length=STAGES_PER_PIPELINE,
        description=f"At most {STAGES_PER_PIPELINE}, the most a pipeline holds (retired "
        "stages included).",
    )


class PipelineUpdate(PatchModel):
    """Rename, make default, or reorder every live stage at once with `stage_ids`."""

    example = {"name": "Bán xe mới", "is_default": True}

    name: Annotated[str, StringConstraints(min_length=1, max_length=120)] | MISSING = MISSING
    is_default: bool | MISSING = MISSING
    stage_ids: list[uuid.UUID] | MISSING = Field(
        MISSING,
        description="Every live stage's id, in the new order.",
        max_length=STAGES_PER_PIPELINE,
    )


class PipelineRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "name": "Bán hàng",
        "is_default": True,
        "stages": [
            {
                "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e70",
                "name": "Tiếp cận",
                "name_en": "Prospecting",
                "position": 10,
                "probability": 10,
                "kind": "open",
                "is_active": True,
            }
        ],
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
        "updated_at": "2026-11-23T04:00:00Z",
    }

    id: uuid.UUID
    name: str
    is_default: bool
    stages: list[StageRead] = Field(description="In order; retired stages included.")
    version: int
    created_at: datetime
    updated_at: datetime


class PipelineList(BaseModel):
    data: list[PipelineRead]
