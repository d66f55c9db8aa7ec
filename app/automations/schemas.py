import datetime as dt
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from fastapi import Query
from pydantic import MISSING, BaseModel, Field, StringConstraints, model_validator

from app.core.pagination import PageQuery, RecordListQuery, Sortable
from app.core.schemas import Email, InputModel, Name, PatchModel, ReadModel, Tag


class AutomationResource(StrEnum):
    lead = "lead"
    contact = "contact"
    account = "account"
    deal = "deal"


DURATION_PATTERN = r"^[1-9][0-9]{0,4}[mhd]$"
Duration = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN),
    Field(description="Minutes, hours or days: `30m`, `2h`, `3d`.", examples=["2h"]),
]


def duration_of(text: str) -> timedelta:
    unit = {"m": "minutes", "h": "hours", "d": "days"}[text[-1]]
    return timedelta(**{unit: int(text[:-1])})


# Triggers ---------------------------------------------------------------------------------------


class EventTrigger(InputModel):
    """When an event happens to a record (`lead.created`), optionally only when it changed
    `field` to `to` (`{"event": "deal.updated", "field": "status", "to": "won"}`)."""

    type: Literal["event"]
    event: str = Field(
        pattern=r"^[a-z_]{1,30}\.[a-z_]{1,29}$", examples=["lead.created"], max_length=60
    )
    field: str | None = Field(None, max_length=80)
    to: Any = Field(None, description="With `field`: the value it changed to.")


class ScheduleTrigger(InputModel):
    """On a schedule (a cron expression in the workspace's time zone), for every record whose
    conditions hold at that moment (at most SCHEDULE_RECORDS_CAP of them a firing)."""

    type: Literal["schedule"]
    cron: str = Field(max_length=100, examples=["0 9 * * 1"])


class DateTrigger(InputModel):
    """On the day a date field of the record falls (plus `offset_days`), at `time` in the
    workspace's time zone; `yearly` for anniversaries such as birthdays (29 February falls on
    28 February in other years)."""

    type: Literal["date"]
    field: str = Field(
        max_length=80,
        examples=["birthday"],
        description="A date of the record (a contact's `birthday`, a deal's "
        "`expected_close_date`) or a custom field of type date, `custom_fields.<key>`.",
    )
    offset_days: int = Field(0, ge=-365, le=365)
    time: dt.time = Field(default=dt.time(8, 0), description="Time of day, default 08:00.")
    yearly: bool = False


Trigger = Annotated[EventTrigger | ScheduleTrigger | DateTrigger, Field(discriminator="type")]


# Conditions -------------------------------------------------------------------------------------


class ConditionOp(StrEnum):
    eq = "eq"
    ne = "ne"
    in_ = "in"
    not_in = "not_in"
    contains = "contains"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    is_empty = "is_empty"
    is_not_empty = "is_not_empty"
    changed_to = "changed_to"


class Condition(InputModel):
    field: str = Field(
        max_length=80,
        description="A field of the record (`status`, `custom_fields.dong_xe`) or of a related "
        "one (`account.type`, `owner.team_id`).",
        examples=["status"],
    )
    op: ConditionOp
    value: Any = None


class Conditions(InputModel):
    """All of `all`, or any of `any` (neither: always)."""

    all: list[Condition] | None = Field(None, max_length=20)
    any: list[Condition] | None = Field(None, max_length=20)

    @model_validator(mode="after")
    def _one_kind(self) -> "Conditions":
        if self.all is not None and self.any is not None:
            raise ValueError("give `all` or `any`, not both")
        return self

    @property
    def listed(self) -> list[Condition]:
        return self.all or self.any or []


# Actions ----------------------------------------------------------------------------------------


class SendEmail(InputModel):
    """An email from a template, to the record (a contact, or a deal's contact: a marketing
    email, with its unsubscribe link), its owner, or an address. Contacts and deals only."""

    type: Literal["send_email"]
    template_id: uuid.UUID
    to: Literal["record", "owner", "address"] = "record"
    address: Email | None = Field(None, description="With `to: address`.")

    @model_validator(mode="after")
    def _address_with_address(self) -> "SendEmail":
        if (self.to == "address") != (self.address is not None):
            raise ValueError("`address` goes with `to: address`, and only with it")
        return self


class ActivityKind(StrEnum):
    call = "call"
    email = "email"
    meeting = "meeting"
    note = "note"
    task = "task"


class CreateActivity(InputModel):
    """An activity about the record, owned by the record's owner, due `due_in` from now."""

    type: Literal["create_activity"]
    activity_type: ActivityKind = ActivityKind.task
    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    due_in: Duration | None = None


class UpdateField(InputModel):
    type: Literal["update_field"]
    field: str = Field(max_length=80, examples=["status"])
    value: Any = None


class AssignOwner(InputModel):
    """To a user, or to whom an assignment rule picks (round robin, least loaded, fixed)."""

    type: Literal["assign_owner"]
    user_id: uuid.UUID | None = None
    assignment_rule_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_way(self) -> "AssignOwner":
        if (self.user_id is None) == (self.assignment_rule_id is None):
            raise ValueError("give `user_id` or `assignment_rule_id`")
        return self


class AddTag(InputModel):
    type: Literal["add_tag"]
    tag: Tag


class Notify(InputModel):
    type: Literal["notify"]
    user: Literal["owner"] | uuid.UUID = "owner"
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class CallWebhook(InputModel):
    """POST the record to one of the workspace's webhooks (`/webhooks`: its URL, signed with
    its secret as its deliveries are), `{type: "automation.called", data: {automation_id,
    run_id, resource, record}}`; a non-2xx answer is a failed try, retried as any action."""

    type: Literal["call_webhook"]
    webhook_id: uuid.UUID


class Wait(InputModel):
    """Pause the run; it resumes later, reading the record again and checking the conditions
    again (a run whose conditions no longer hold ends `skipped`)."""

    type: Literal["wait"]
    duration: Duration


Action = Annotated[
    SendEmail | CreateActivity | UpdateField | AssignOwner | AddTag | Notify | CallWebhook | Wait,
    Field(discriminator="type"),
]

# Bodies -----------------------------------------------------------------------------------------

_EXAMPLE_IN: dict[str, Any] = {
    "name": "Nhắc lead mới chưa liên hệ",
    "active": True,
    "resource": "lead",
    "trigger": {"type": "event", "event": "lead.created"},
    "conditions": {"all": [{"field": "status", "op": "eq", "value": "new"}]},
    "actions": [
        {"type": "wait", "duration": "2h"},
        {"type": "create_activity", "activity_type": "task", "subject": "Gọi lead mới",
         "due_in": "1h"},
    ],
}  # fmt: skip


class AutomationCreate(InputModel):
    example = _EXAMPLE_IN

    name: Name
    active: bool = False
    resource: AutomationResource
    trigger: Trigger
    conditions: Conditions = Field(default_factory=Conditions)
    actions: list[Action] = Field(min_length=1, max_length=20)


class AutomationUpdate(PatchModel):
    """Only the fields sent change; a new trigger, conditions or actions apply to runs that
    start from then on."""

    example = {"active": True}

    name: Name | MISSING = MISSING
    active: bool | MISSING = MISSING
    trigger: Trigger | MISSING = MISSING
    conditions: Conditions | MISSING = MISSING
    actions: Annotated[list[Action], Field(min_length=1, max_length=20)] | MISSING = MISSING


class AutomationRead(ReadModel):
    example = {
        **_EXAMPLE_IN,
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90",
        "next_fire_at": None,
        "version": 1,
        "created_at": "2026-12-03T04:00:00Z",
        "updated_at": "2026-12-03T04:00:00Z",
        "deleted_at": None,
    }

    id: uuid.UUID
    name: str
    active: bool
    resource: AutomationResource
    trigger: dict[str, Any]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    next_fire_at: datetime | None = Field(
        description="When a date or schedule trigger next looks for records."
    )
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class AutomationQuery(RecordListQuery):
    sort: Annotated[str, Sortable("created_at", "name")] = "-created_at"
    resource: list[AutomationResource] | None = Field(None, description="Kinds of record.")
    active: bool | None = None


AutomationQueryParams = Annotated[AutomationQuery, Query()]


# Runs -------------------------------------------------------------------------------------------


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    waiting = "waiting"  # a `wait` action: resumes at `due_at`
    retrying = "retrying"  # an action failed: tried again at `due_at`
    completed = "completed"
    skipped = "skipped"  # its conditions no longer held when it resumed
    failed = "failed"


UNFINISHED = (RunStatus.queued, RunStatus.running, RunStatus.waiting, RunStatus.retrying)


class RunRead(ReadModel):
    example = {
        "id": "01936f4e-9b5c-7c3d-9e2f-1a2b3c4d5e91",
        "automation_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90",
        "resource": "lead",
        "record_id": "01936f4e-1d02-7b3a-8a41-0d6c9b2e7f30",
        "trigger": {"event": "lead.created", "event_id": "01936f4e-2b7a-7cc1-9b53-4f0a5e8a1c11"},
        "status": "completed",
        "depth": 0,
        "steps": [
            {"action": 0, "type": "wait", "outcome": "done", "attempts": 1,
             "started_at": "2026-12-03T04:00:01Z", "finished_at": "2026-12-03T04:00:01Z",
             "detail": {"until": "2026-12-03T06:00:01Z"}, "error": None},
        ],
        "error": None,
        "due_at": "2026-12-03T06:00:01Z",
        "created_at": "2026-12-03T04:00:00Z",
        "started_at": "2026-12-03T04:00:01Z",
        "finished_at": "2026-12-03T06:00:02Z",
    }  # fmt: skip

    id: uuid.UUID
    automation_id: uuid.UUID
    resource: str
    record_id: uuid.UUID
    trigger: dict[str, Any]
    status: RunStatus
    depth: int
    steps: list[dict[str, Any]] = Field(
        description="Each action tried, in order: its outcome (`done`, `failed`), attempts, "
        "timings, what it did (`detail`) and the error."
    )
    error: str | None
    due_at: datetime = Field(description="When its next step is due.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunQuery(PageQuery):
    sort: ClassVar[str] = "-created_at"  # newest first
    status: list[RunStatus] | None = Field(None, description="Statuses (repeat for several).")


RunQueryParams = Annotated[RunQuery, Query()]


# Dry run ----------------------------------------------------------------------------------------


class TestRun(InputModel):
    example = {"record_id": "01936f4e-1d02-7b3a-8a41-0d6c9b2e7f30"}

    record_id: uuid.UUID


class ConditionChecked(BaseModel):
    field: str
    op: ConditionOp
    value: Any
    actual: Any = Field(description="The record's value")
    holds: bool


class ActionPlanned(BaseModel):
    type: str
    would: str = Field(description="What it would do, in words.")
    detail: dict[str, Any]


class TestResult(ReadModel):
    """What a run for the record would do now: nothing is sent or written."""

    example = {
        "matches": True,
        "conditions": [
            {"field": "status", "op": "eq", "value": "new", "actual": "new", "holds": True}
        ],
        "actions": [
            {"type": "wait", "would": "wait 2h, then read the record again", "detail": {}},
        ],
    }

    matches: bool = Field(description="The conditions hold: a run would do the actions.")
    conditions: list[ConditionChecked]
    actions: list[ActionPlanned]
