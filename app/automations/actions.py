"""What each workflow action does to a record, through the record's own domain services, and
what it would do (a dry run). Runs in the run's step transaction (app/automations/runner.py):
an action's writes commit with the step that records it, or not at all."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.activities import service as activities
from app.activities.schemas import ActivityCreate
from app.assignment import service as assignment
from app.automations import targets
from app.automations.schemas import (
    Action,
    AddTag,
    AssignOwner,
    CreateActivity,
    Notify,
    UpdateField,
    Wait,
    duration_of,
)
from app.core.clock import now
from app.core.context import Ctx
from app.notifications import service as notifications


class ActionFailed(Exception):
    """The action cannot be done as it stands (no owner to notify, no candidate to assign):
    retried with backoff, then the run fails with this reason."""


@dataclass
class Done:
    detail: dict[str, Any] = field(default_factory=dict)
    resume_at: datetime | None = None  # a `wait`: the run goes on then


@dataclass(frozen=True)
class Subject:
    """The record an action acts on, as read when its step began."""

    resource: str
    record: targets.Record

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(str(self.record["id"]))

    @property
    def owner_id(self) -> uuid.UUID | None:
        owner = self.record.get("owner_id")
        return uuid.UUID(str(owner)) if owner else None


async def perform(ctx: Ctx, action: Action, subject: Subject) -> Done:
    """Do `action` to the record (its changes emit events, caused by the workflow)."""
    if isinstance(action, Wait):
        until = now() + duration_of(action.duration)
        return Done({"until": until.isoformat()}, resume_at=until)
    if isinstance(action, CreateActivity):
        return await _create_activity(ctx, action, subject)
    if isinstance(action, UpdateField):
        values = _field_values(action.field, action.value)
        await targets.TARGETS[subject.resource].update(ctx, subject.id, values)
        return Done({"field": action.field, "value": action.value})
    if isinstance(action, AssignOwner):
        owner = await _new_owner(ctx, action)
        await targets.TARGETS[subject.resource].update(ctx, subject.id, {"owner_id": owner})
        return Done({"owner_id": str(owner)})
    if isinstance(action, AddTag):
        tags = list(subject.record.get("tags") or [])
        if action.tag not in tags:
            await targets.TARGETS[subject.resource].update(
                ctx, subject.id, {"tags": [*tags, action.tag]}
            )
        return Done({"tag": action.tag})
    if isinstance(action, Notify):
        return await _notify(ctx, action, subject)
    raise ActionFailed(f"{action.type} is not available")


def describe(action: Action, subject: Subject) -> str:
    """What the action would do to the record, in words (a dry run)."""
    if isinstance(action, Wait):
        return f"wait {action.duration}, then read the record again and check the conditions"
    if isinstance(action, CreateActivity):
        due = f", due in {action.due_in}" if action.due_in else ""
        return f"create a {action.activity_type} “{action.subject}” for the owner{due}"
    if isinstance(action, UpdateField):
        old = subject.record.get(action.field)
        return f"set {action.field} from {old!r} to {action.value!r}"
    if isinstance(action, AssignOwner):
        if action.user_id is not None:
            return f"give the record to user {action.user_id}"
        return f"give the record to whom assignment rule {action.assignment_rule_id} picks"
    if isinstance(action, AddTag):
        return f"add the tag “{action.tag}”"
    if isinstance(action, Notify):
        return f"notify {action.user}: “{action.title}”"
    return action.type


def _field_values(path: str, value: Any) -> dict[str, Any]:
    if path.startswith("custom_fields."):
        return {"custom_fields": {path.removeprefix("custom_fields."): value}}
    return {path: value}


async def _create_activity(ctx: Ctx, action: CreateActivity, subject: Subject) -> Done:
    due_at = now() + duration_of(action.due_in) if action.due_in else None
    activity = await activities.create_activity(
        ctx,
        ActivityCreate(
            type=action.activity_type.value,
            subject=action.subject,
            due_at=due_at,
            owner_id=subject.owner_id,
            related_type=subject.resource,
            related_id=subject.id,
        ),
    )
    return Done({"activity_id": str(activity.id)})


async def _new_owner(ctx: Ctx, action: AssignOwner) -> uuid.UUID:
    if action.user_id is not None:
        return action.user_id
    assert action.assignment_rule_id is not None
    chosen = await assignment.owner_by_rule(ctx, action.assignment_rule_id)
    if chosen is None:
        raise ActionFailed("the assignment rule is off, gone, or has no active candidate")
    return chosen


async def _notify(ctx: Ctx, action: Notify, subject: Subject) -> Done:
    user_id = subject.owner_id if action.user == "owner" else action.user
    if not isinstance(user_id, uuid.UUID):
        raise ActionFailed("the record has no owner to notify")
    lead_id = subject.id if subject.resource == "lead" else None
    await notifications.notify_from_workflow(ctx, user_id=user_id, title=action.title,
                                             lead_id=lead_id)  # fmt: skip
    return Done({"user_id": str(user_id)})
