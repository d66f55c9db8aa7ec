import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import Query
from pydantic import MISSING, AfterValidator, Field, StrictInt

from app.core.pagination import ListQuery, Sortable
from app.core.schemas import Area, InputModel, Name, PatchModel, ReadModel, Tag
from app.leads.schemas import LeadSource


class Strategy(StrEnum):
    round_robin = "round_robin"
    least_loaded = "least_loaded"
    fixed = "fixed"


def _each_once(user_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(user_ids)) != len(user_ids):
        raise ValueError("each user may be listed once")
    return user_ids


Priority = Annotated[
    StrictInt, Field(ge=0, le=1_000_000, description="Lower goes first; ties by id.")
]
UserIds = Annotated[
    list[uuid.UUID],
    Field(
        max_length=200,
        description="Active users of the workspace, in the order a round robin serves them "
        "and `fixed` falls back through; or give `team_id` instead.",
    ),
    AfterValidator(_each_once),
]
TeamId = Annotated[
    uuid.UUID,
    Field(description="Hand out among the team's active members (by id); or `user_ids`."),
]

_CONDITIONS_NOTE = (
    "Every condition given must hold for a new lead; none given, the rule takes every lead. "
    "`province` and `tag` ignore case and Vietnamese diacritics."
)


class AssignmentConditions(InputModel):
    __doc__ = _CONDITIONS_NOTE
    example = {"source": "facebook", "province": "Hà Nội"}

    form_id: uuid.UUID | None = Field(None, description="The web form it came through.")
    integration_id: uuid.UUID | None = Field(
        None, description="The ad-platform integration it came through."
    )
    campaign_id: uuid.UUID | None = None
    source: LeadSource | None = None
    province: Area | None = None
    tag: Tag | None = Field(None, description="The lead carries this tag.")


class AssignmentConditionsRead(ReadModel):
    __doc__ = _CONDITIONS_NOTE

    form_id: uuid.UUID | None
    integration_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    source: LeadSource | None
    province: str | None
    tag: str | None


_EXAMPLE_IN = {
    "name": "Facebook Hà Nội → đội Bắc",
    "priority": 10,
    "conditions": {"source": "facebook", "province": "Hà Nội"},
    "strategy": "round_robin",
    "team_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
}


class AssignmentRuleCreate(InputModel):
    """Give `user_ids` or `team_id`, not both."""

    example = _EXAMPLE_IN

    name: Name
    priority: Priority = 100
    active: bool = True
    conditions: AssignmentConditions = Field(default_factory=AssignmentConditions)
    strategy: Strategy
    user_ids: UserIds = Field(default_factory=list)
    team_id: TeamId | None = None


class AssignmentRuleUpdate(PatchModel):
    """Only the fields sent change; `conditions` replaces the rule's conditions whole. To move
    a rule from a team to users (or back), send the new one and null (or `[]`) for the other."""

    example = {"priority": 5, "user_ids": ["01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f"], "team_id": None}

    name: Name | MISSING = MISSING
    priority: Priority | MISSING = MISSING
    active: bool | MISSING = MISSING
    conditions: AssignmentConditions | MISSING = MISSING
    strategy: Strategy | MISSING = MISSING
    user_ids: UserIds | MISSING = MISSING
    team_id: TeamId | MISSING | None = MISSING


class AssignmentRuleRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90",
        "active": True,
        "conditions": {
            "form_id": None, "integration_id": None, "campaign_id": None,
            "source": "facebook", "province": "Hà Nội", "tag": None,
        },
        "user_ids": [],
        "version": 1,
        "created_at": "2026-12-03T04:00:00Z",
        "updated_at": "2026-12-03T04:00:00Z",
        "deleted_at": None,
    }  # fmt: skip

    id: uuid.UUID
    name: str
    priority: int
    active: bool
    conditions: AssignmentConditionsRead
    strategy: Strategy
    user_ids: list[uuid.UUID]
    team_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class AssignmentRuleQuery(ListQuery):
    sort: Annotated[str, Sortable("priority", "created_at")] = Field(
        "priority", description="`priority`: the order rules are tried in (ties by id)."
    )
    active: bool | None = None
    strategy: Strategy | None = None


AssignmentRuleQueryParams = Annotated[AssignmentRuleQuery, Query()]
