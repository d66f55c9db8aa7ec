"""Workflows: the rules for saving one (every field it names must exist, 422), and when a
date or schedule trigger next looks for records. Runs are app/automations/runs.py's."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from croniter import croniter
from pydantic import TypeAdapter

from app.assignment.service import ASSIGNMENT_RULES
from app.automations import actions, conditions, targets
from app.automations.models import Automation
from app.automations.schemas import (
    Action,
    ActionPlanned,
    AssignOwner,
    AutomationCreate,
    AutomationQuery,
    AutomationRead,
    AutomationUpdate,
    CallWebhook,
    Conditions,
    DateTrigger,
    EventTrigger,
    Notify,
    ScheduleTrigger,
    SendEmail,
    TestResult,
    Trigger,
    UpdateField,
)
from app.core import clock, records
from app.core.context import Ctx
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import equals, one_of
from app.core.records import Patched, Resource
from app.core.tenancy import Workspace
from app.core.workspace_settings import cached
from app.emails.service import EMAIL_TEMPLATES
from app.users import service as users
from app.webhooks.service import WEBHOOKS

EMAILED = {"contact", "deal"}  # the kinds of record an email can be about


class AutomationNotFound(NotFound):
    code, title = "automation_not_found", "Workflow not found"


AUTOMATIONS = Resource(
    model=Automation,
    name="automation",
    read=AutomationRead,
    query=AutomationQuery,
    not_found=AutomationNotFound,
    filters={"resource": one_of("resource"), "active": equals("active")},
    searched=("name",),
    history=("name", "active", "resource", "trigger", "conditions", "actions"),
)

_TRIGGER: TypeAdapter[Trigger] = TypeAdapter(Trigger)
_ACTIONS: TypeAdapter[list[Action]] = TypeAdapter(list[Action])


def trigger_of(automation: Automation) -> Trigger:
    return _TRIGGER.validate_python(automation.trigger)


def conditions_of(automation: Automation) -> Conditions:
    return Conditions.model_validate(automation.conditions)


def actions_of(plan: list[dict[str, Any]]) -> list[Action]:
    return _ACTIONS.validate_python(plan)


# Saving -----------------------------------------------------------------------------------------


def _invalid(errors: list[dict[str, str]]) -> Unprocessable:
    return Unprocessable(errors)


async def _check(
    ctx: Ctx, resource: str, trigger: Trigger, conditions: Conditions, actions: list[Action]
) -> None:
    """Every field named exists for `resource`, the event is one of its own, the cron reads,
    and the users and rules the actions name are the workspace's: else a 422 naming each."""
    errors: list[dict[str, str]] = []
    named = [(f"conditions.{i}.field", c.field) for i, c in enumerate(conditions.listed)]
    if isinstance(trigger, EventTrigger):
        if trigger.event.split(".")[0] != resource:
            errors.append({"field": "trigger.event", "message": f"not an event of a {resource}"})
        if trigger.field is not None:
            named.append(("trigger.field", trigger.field))
    elif isinstance(trigger, DateTrigger):
        dates = await targets.date_fields(ctx, resource)
        if trigger.field not in dates:
            fields = ", ".join(dates) or "none (add a custom field of type date)"
            errors.append({"field": "trigger.field", "message": f"a date field: {fields}"})
    elif not croniter.is_valid(trigger.cron):
        errors.append({"field": "trigger.cron", "message": "not a cron expression"})
    unknown = set(await targets.unknown_fields(ctx, resource, [path for _, path in named]))
    errors += [{"field": where, "message": "no such field"} for where, p in named if p in unknown]
    for n, action in enumerate(actions):
        errors += await _action_errors(ctx, resource, action, f"actions.{n}")
    if errors:
        raise _invalid(errors)


async def _action_errors(
    ctx: Ctx, resource: str, action: Action, where: str
) -> list[dict[str, str]]:
    if isinstance(action, UpdateField):
        field = action.field.removeprefix("custom_fields.")
        settable = targets.settable_fields(resource)
        custom = action.field.startswith("custom_fields.")
        known = custom and not await targets.unknown_fields(ctx, resource, [action.field])
        if not known and (custom or field not in settable or field in ("custom_fields",)):
            return [{"field": f"{where}.field", "message": f"not a field a {resource} can set"}]
    if isinstance(action, AssignOwner | Notify):
        user_id = action.user_id if isinstance(action, AssignOwner) else action.user
        if isinstance(user_id, uuid.UUID) and not await _active_user(ctx, user_id):
            return [{"field": f"{where}.user", "message": "not an active user here"}]
    if isinstance(action, SendEmail):
        if resource not in EMAILED:
            return [{"field": f"{where}.type", "message": "emails go to contacts and deals"}]
        try:
            await records.get(ctx, EMAIL_TEMPLATES, action.template_id)
        except NotFound:
            return [{"field": f"{where}.template_id", "message": "no such email template"}]
    if isinstance(action, CallWebhook):
        try:
            await records.get(ctx, WEBHOOKS, action.webhook_id)
        except NotFound:
            return [{"field": f"{where}.webhook_id", "message": "no such webhook"}]
    if isinstance(action, AssignOwner) and action.assignment_rule_id is not None:
        try:
            await records.get(ctx, ASSIGNMENT_RULES, action.assignment_rule_id)
        except NotFound:
            return [{"field": f"{where}.assignment_rule_id", "message": "no such rule"}]
    return []


async def _active_user(ctx: Ctx, user_id: uuid.UUID) -> bool:
    try:
        return (await users.get_user(ctx, user_id)).is_active
    except NotFound:
        return False


def _indexed(values: dict[str, Any], trigger: Trigger, next_fire_at: datetime | None) -> None:
    values["trigger_event"] = trigger.event if isinstance(trigger, EventTrigger) else None
    values["next_fire_at"] = next_fire_at


async def create_automation(ctx: Ctx, data: AutomationCreate) -> Automation:
    """Checked (`_check`), stored with when its clock trigger next fires."""
    await _check(ctx, data.resource, data.trigger, data.conditions, data.actions)
    values = data.model_dump(mode="json")
    _indexed(values, data.trigger, await next_fire(ctx, data.trigger, after=clock.now()))
    return await records.create(ctx, AUTOMATIONS, values)


async def update_automation(
    ctx: Ctx, automation_id: uuid.UUID, data: AutomationUpdate, *, if_match: str | None
) -> Patched[Automation]:
    """Only the fields sent change, checked as a whole; runs under way keep the actions they
    started with."""

    async def rules(automation: Automation, values: dict[str, Any]) -> dict[str, Any]:
        trigger = data.trigger if "trigger" in values else trigger_of(automation)
        conditions = data.conditions if "conditions" in values else conditions_of(automation)
        actions = data.actions if "actions" in values else actions_of(automation.actions)
        await _check(ctx, automation.resource, trigger, conditions, actions)  # type: ignore[arg-type]
        values = data.model_dump(mode="json", exclude_unset=True)
        if "trigger" in values or values.get("active"):
            fire = await next_fire(ctx, trigger, after=clock.now())  # type: ignore[arg-type]
            _indexed(values, trigger, fire)  # type: ignore[arg-type]
        return values

    return await records.patch(ctx, AUTOMATIONS, automation_id, {}, if_match=if_match, rules=rules)


# The clock --------------------------------------------------------------------------------------


async def workspace_zone(ctx: Ctx) -> Any:
    async def load() -> str:
        workspace = await ctx.session.get(Workspace, ctx.workspace_id)
        return workspace.timezone if workspace else clock.DEFAULT_ZONE

    return clock.zone(await cached(ctx, "timezone", load))


async def next_fire(ctx: Ctx, trigger: Trigger, *, after: datetime) -> datetime | None:
    """When a date trigger next looks (its time of day, each day) or a schedule fires (its
    cron), after `after`, in the workspace's time zone; None for an event trigger."""
    if isinstance(trigger, EventTrigger):
        return None
    zone = await workspace_zone(ctx)
    local = after.astimezone(zone)
    if isinstance(trigger, ScheduleTrigger):
        fire: datetime = croniter(trigger.cron, local).get_next(datetime)
        return fire.astimezone(UTC)
    today = datetime.combine(local.date(), trigger.time, tzinfo=zone)
    return (today if today > local else today + timedelta(days=1)).astimezone(UTC)


async def last_fire(ctx: Ctx, trigger: Trigger, *, at: datetime) -> datetime | None:
    """The trigger's latest time at or before `at`: today's time of day for a date trigger
    (None before it), the cron's previous time for a schedule."""
    if isinstance(trigger, EventTrigger):
        return None
    zone = await workspace_zone(ctx)
    local = at.astimezone(zone)
    if isinstance(trigger, ScheduleTrigger):
        fire: datetime = croniter(trigger.cron, local + timedelta(seconds=1)).get_prev(datetime)
        return fire
    today = datetime.combine(local.date(), trigger.time, tzinfo=zone)
    return today if today <= local else None


def occurrence_day(fired_at: datetime, zone: Any) -> date:
    return fired_at.astimezone(zone).date()


def day_of_field(trigger: DateTrigger, day: date) -> date:
    """The date the record's field holds for the trigger to fire on `day`."""
    return day - timedelta(days=trigger.offset_days)


# A dry run --------------------------------------------------------------------------------------


async def try_automation(ctx: Ctx, automation_id: uuid.UUID, record_id: uuid.UUID) -> TestResult:
    """Which conditions hold for the record now and what each action would do: nothing is
    sent or written. A record that is not one of the workflow's kind, or gone, is a 422."""
    automation = await records.get(ctx, AUTOMATIONS, automation_id)
    record = await targets.read_record(ctx, automation.resource, record_id)
    if record is None:
        raise _invalid([{"field": "record_id", "message": f"not a {automation.resource} here"}])
    holds, checked = await conditions.checked(
        ctx, automation.resource, record, conditions_of(automation)
    )
    subject = actions.Subject(automation.resource, record)
    planned = [
        ActionPlanned(
            type=a.type, would=actions.describe(a, subject), detail=a.model_dump(mode="json")
        )
        for a in actions_of(automation.actions)
    ]
    return TestResult(matches=holds, conditions=checked, actions=planned)
