"""What each workflow action does to a record, through the record's own domain services, and
what it would do (a dry run). Runs in the run's step transaction (app/automations/runner.py):
an action's writes commit with the step that records it, or not at all."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from app.activities import service as activities
from app.activities.schemas import ActivityCreate
from app.assignment import service as assignment
from app.automations import targets
from app.automations.schemas import (
    Action,
    AddTag,
    AssignOwner,
    CallWebhook,
    CreateActivity,
    Notify,
    SendEmail,
    UpdateField,
    Wait,
    duration_of,
)
from app.core import records
from app.core.clock import now
from app.core.context import Ctx
from app.core.settings import get_settings
from app.emails import sending
from app.emails.schemas import EmailRecordType
from app.notifications import service as notifications
from app.webhooks.sending import post, webhook_client
from app.webhooks.service import WEBHOOKS


class ActionFailed(Exception):
    """The action cannot be done as it stands (no owner to notify, no candidate to assign):
    retried with backoff, then the run fails with this reason."""


@dataclass
class Done:
    detail: dict[str, Any] = field(default_factory=dict)
    resume_at: datetime | None = None  # a `wait`: the run goes on then


@dataclass(frozen=True)
class Subject:
    """The record an action acts on, as read when its step began, and where in which run."""

    resource: str
    record: targets.Record
    run_id: uuid.UUID | None = None
    action: int = 0

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
    if isinstance(action, SendEmail):
        return await _send_email(ctx, action, subject)
    return await _call_webhook(ctx, action, subject)


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
    if isinstance(action, SendEmail):
        whom = action.address if action.to == "address" else f"the {action.to}"
        return f"email {whom} with template {action.template_id}"
    return f"post the record to webhook {action.webhook_id}"


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


async def _send_email(ctx: Ctx, action: SendEmail, subject: Subject) -> Done:
    """Queued in the step's transaction, sent by the email's own job after it commits: a
    worker killed mid-step queues nothing, one killed after queues it once."""
    to = action.address
    if action.to == "owner":
        owner = await targets.value_of(ctx, subject.resource, subject.record, "owner.email")
        if owner is None:
            raise ActionFailed("the record has no owner to email")
        to = str(owner)
    email = await sending.queue_email(
        ctx,
        EmailRecordType(subject.resource),
        subject.id,
        template_id=action.template_id,
        to=to,
        marketing=action.to == "record",
    )
    return Done({"email_id": str(email.id), "to": email.to_email})


async def _call_webhook(ctx: Ctx, action: CallWebhook, subject: Subject) -> Done:
    """Sent from the step's transaction; its message id is the run's and the action's, the
    same on every try, so a receiver that got a try whose step then rolled back sees it again
    under that id (at least once, as webhook deliveries are)."""
    webhook = await records.get(ctx, WEBHOOKS, action.webhook_id)
    if not webhook.active:
        raise ActionFailed("the webhook is switched off")
    cause = ctx.state.cause
    assert cause is not None
    assert subject.run_id is not None
    message_id = f"msg_{subject.run_id.hex}_{subject.action}"
    body = {
        "type": "automation.called",
        "timestamp": now().isoformat(),
        "data": {
            "automation_id": str(cause.automation_id),
            "run_id": str(subject.run_id),
            "resource": subject.resource,
            "record": subject.record,
        },
    }
    settings = get_settings()
    async with webhook_client() as http:
        attempt = await post(
            http,
            webhook.url,
            secret=webhook.secret,
            message_id=message_id,
            body=orjson.dumps(body),
            allow_private=settings.webhook_allow_private,
            time_limit=settings.webhook_timeout_seconds,
            max_response_bytes=settings.webhook_response_bytes,
        )
    if not attempt.succeeded:
        raise ActionFailed(f"the webhook answered {attempt.status_code}: {attempt.error or ''}")
    return Done({"webhook_id": str(webhook.id), "status_code": attempt.status_code,
                 "message_id": message_id})  # fmt: skip


async def _notify(ctx: Ctx, action: Notify, subject: Subject) -> Done:
    user_id = subject.owner_id if action.user == "owner" else action.user
    if not isinstance(user_id, uuid.UUID):
        raise ActionFailed("the record has no owner to notify")
    lead_id = subject.id if subject.resource == "lead" else None
    await notifications.notify_from_workflow(ctx, user_id=user_id, title=action.title,
                                             lead_id=lead_id)  # fmt: skip
    return Done({"user_id": str(user_id)})
