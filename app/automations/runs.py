"""When workflows fire: for the events the dispatcher hands over, and for the dates and
schedules the clock reaches. Each firing for a record is a run, made at most once per
(workflow, record, occurrence) by a unique key, and carried out by app/automations/runner.py."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, extract, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from app.automations import service, targets
from app.automations.models import Automation, AutomationRun
from app.automations.schemas import UNFINISHED, DateTrigger, EventTrigger, RunQuery, RunRead
from app.core import clock, events, records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound
from app.core.events import Event
from app.core.ids import new_id
from app.core.jobs import enqueue_after_commit
from app.core.models import table_of, utcnow
from app.core.pagination import Keyset, Page

CARRY_JOB = "carry_automation_runs"
# An automation's actions make events too; a chain of workflows stops this many actions deep.
MAX_DEPTH = 5
# A schedule or date firing acts on at most this many records (the rest wait for the next).
RECORDS_PER_FIRING = 5000

_RUNS = table_of(AutomationRun)


class RunNotFound(NotFound):
    code, title = "automation_run_not_found", "Workflow run not found"


class RunNotFailed(Conflict):
    code, title = "automation_run_not_failed", "Only a failed run can be retried"


def _run_row(
    ctx: Ctx,
    automation: Automation,
    record_id: uuid.UUID,
    occurrence: str,
    trigger: dict[str, Any],
    *,
    depth: int,
) -> dict[str, Any]:
    now = utcnow()
    return {
        "workspace_id": ctx.workspace_id,
        "id": new_id(),
        "automation_id": automation.id,
        "resource": automation.resource,
        "record_id": record_id,
        "occurrence": occurrence,
        # What to do is fixed when the run starts: a workflow edited later changes new runs.
        "trigger": {**trigger, "plan": {"conditions": automation.conditions,
                                        "actions": automation.actions}},
        "status": "queued",
        "depth": depth,
        "next_action": 0,
        "attempts": 0,
        "steps": [],
        "due_at": clock.now(),
        "created_at": now,
    }  # fmt: skip


async def _start(ctx: Ctx, rows: list[dict[str, Any]]) -> int:
    """Insert the runs not made before (the unique key keeps a repeat out) and ask for a
    carrier once they commit."""
    if not rows:
        return 0
    made = insert(_RUNS).values(rows).on_conflict_do_nothing().returning(_RUNS.c.id)
    new = list(await ctx.session.scalars(made))
    if new:
        nudge(ctx)
    return len(new)


def nudge(ctx: Ctx, *, at: datetime | None = None) -> None:
    """Ask for a job carrying the workspace's due runs once this transaction commits, or at
    `at` (a wait's end, a retry's time). Runs are carried a batch at a time, not a job each:
    one job for a transaction's runs, one for the runs due at the same moment."""
    moment = f"at:{int(at.timestamp() * 1000)}" if at is not None else f"now:{new_id()}"
    job_id = f"automation-runs:{ctx.workspace_id}:{moment}"
    enqueue_after_commit(ctx, CARRY_JOB, str(ctx.workspace_id), job_id=job_id, defer_until=at)


# Events -----------------------------------------------------------------------------------------


def _fires_on(trigger: EventTrigger, event: Event) -> bool:
    if trigger.event != event.type:
        return False
    if trigger.field is None:
        return True
    change = event.changes.get(trigger.field)
    if not isinstance(change, dict) or "new" not in change:
        return False
    return (
        trigger.to is None or change["new"] == trigger.to or str(change["new"]) == str(trigger.to)
    )


async def start_for_events(ctx: Ctx, batch: Sequence[Event]) -> None:
    """The dispatcher's hand-over: a run for every active workflow whose event trigger the
    event fires. Not for an event a workflow's own action made on the record (it would
    trigger itself in a loop), nor past MAX_DEPTH actions deep."""
    types = {e.type for e in batch if e.depth < MAX_DEPTH}
    if not types:
        return
    waiting = list(
        await ctx.session.scalars(
            select(Automation).where(
                Automation.workspace_id == ctx.workspace_id,
                Automation.trigger_event.in_(types),
                Automation.active,
                Automation.deleted_at.is_(None),
            )
        )
    )
    triggers = [(automation, service.trigger_of(automation)) for automation in waiting]
    rows = []
    for event in batch:
        for automation, trigger in triggers:
            if (
                event.depth >= MAX_DEPTH
                or event.automation_id == automation.id
                or not isinstance(trigger, EventTrigger)
                or not _fires_on(trigger, event)
            ):
                continue
            fired = {"event": event.type, "event_id": str(event.id), "changes": event.changes}
            occurrence = f"event:{event.id}"
            rows.append(
                _run_row(ctx, automation, event.record_id, occurrence, fired, depth=event.depth)
            )
    await _start(ctx, rows)


events.on_events("automations", start_for_events)


# The clock --------------------------------------------------------------------------------------


async def fire_due(ctx: Ctx) -> int:
    """Every date and schedule workflow whose time has come: runs for the records it fires
    for, then its next time. A day the clock never looked at (no worker ran) is not made up
    later: a birthday email comes on the day or not at all."""
    now = clock.now()
    due = list(
        await ctx.session.scalars(
            select(Automation)
            .where(
                Automation.workspace_id == ctx.workspace_id,
                Automation.active,
                Automation.deleted_at.is_(None),
                Automation.next_fire_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
    )
    started = 0
    zone = await service.workspace_zone(ctx)
    for automation in due:
        trigger = service.trigger_of(automation)
        # Its latest time that has come: the one it waited for, or a later one when the clock
        # missed some (only the latest fires: yesterday's birthdays are not wished today).
        fired_at = await service.last_fire(ctx, trigger, at=now)
        waited_for = automation.next_fire_at
        if fired_at is not None and waited_for is not None and fired_at >= waited_for:
            started += await _fire(ctx, automation, trigger, fired_at, zone)
        automation.next_fire_at = await service.next_fire(ctx, trigger, after=now)
    await ctx.session.flush()
    return started


async def _fire(
    ctx: Ctx, automation: Automation, trigger: Any, fired_at: datetime, zone: Any
) -> int:
    table = targets.TARGETS[automation.resource].resource.table
    live = [table.c.workspace_id == ctx.workspace_id, table.c.deleted_at.is_(None)]
    if isinstance(trigger, DateTrigger):
        day = service.occurrence_day(fired_at, zone)
        live.append(_falls_on(table, trigger.field, service.day_of_field(trigger, day),
                              yearly=trigger.yearly))  # fmt: skip
        occurrence = f"date:{day.isoformat()}"
        fired = {"date": day.isoformat(), "field": trigger.field}
    else:
        occurrence = f"schedule:{fired_at.isoformat()}"
        fired = {"schedule": fired_at.isoformat()}
    found = await records.fetch(
        ctx, select(table.c.id).where(*live).order_by(table.c.id).limit(RECORDS_PER_FIRING)
    )
    rows = [_run_row(ctx, automation, r["id"], occurrence, fired, depth=0) for r in found]
    return await _start(ctx, rows)


def _falls_on(table: Any, field: str, day: date, *, yearly: bool) -> ColumnElement[bool]:
    """The field holds `day` (yearly: its month and day; 29 February counts on 28 February in
    a year without one)."""
    leap_day_too = yearly and day.month == 2 and day.day == 28 and not _leap(day.year)
    if field.startswith("custom_fields."):
        return _custom_date_falls_on(table, field.removeprefix("custom_fields."), day,
                                     yearly=yearly, leap_day_too=leap_day_too)  # fmt: skip
    column = table.c[field]
    if not yearly:
        return column == day  # type: ignore[no-any-return]
    same = and_(extract("month", column) == day.month, extract("day", column) == day.day)
    if leap_day_too:
        return or_(same, and_(extract("month", column) == 2, extract("day", column) == 29))
    return same


def _custom_date_falls_on(
    table: Any, key: str, day: date, *, yearly: bool, leap_day_too: bool
) -> ColumnElement[bool]:
    """A custom date is stored as ISO text (`YYYY-MM-DD`, checked on write): compared as text,
    never cast, so no stored value can fail the statement. No index finds it: the workspace's
    records are read through `workspace_id`, once a day a workflow fires."""
    value = table.c.custom_fields[key].astext
    if not yearly:
        return value == day.isoformat()  # type: ignore[no-any-return]
    month_day = func.substr(value, 6, 5)
    days = [f"{day.month:02}-{day.day:02}", *(["02-29"] if leap_day_too else [])]
    return month_day.in_(days)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# Reading and retrying ---------------------------------------------------------------------------

_RUN_SORTS = {"created_at": _RUNS.c.created_at}


async def list_runs(ctx: Ctx, automation_id: uuid.UUID, query: RunQuery) -> Page[RunRead]:
    """The workflow's runs, newest first, a page at a time."""
    await records.get(ctx, service.AUTOMATIONS, automation_id, include_deleted=True)
    keyset = Keyset.of(query, _RUN_SORTS)
    stmt = select(*_RUNS.c).where(
        _RUNS.c.workspace_id == ctx.workspace_id, _RUNS.c.automation_id == automation_id
    )
    if query.status:
        stmt = stmt.where(_RUNS.c.status.in_([s.value for s in query.status]))
    rows = await records.fetch(ctx, keyset.page_of(stmt, _RUNS.c.created_at, _RUNS.c.id))
    page = keyset.rows([dict(r) for r in rows], "created_at")
    return Page[RunRead](
        data=[RunRead.model_validate(_shown(row)) for row in page.data],
        next_cursor=page.next_cursor,
    )


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    trigger = {k: v for k, v in row["trigger"].items() if k != "plan"}
    return {**row, "trigger": trigger}


async def get_run(ctx: Ctx, automation_id: uuid.UUID, run_id: uuid.UUID) -> AutomationRun:
    run = await ctx.session.get(AutomationRun, (ctx.workspace_id, run_id), with_for_update=True)
    if run is None or run.automation_id != automation_id:
        raise RunNotFound()
    return run


async def retry_run(ctx: Ctx, automation_id: uuid.UUID, run_id: uuid.UUID) -> RunRead:
    """A failed run goes on from the action that failed (those done before are not done
    again); any other is a 409."""
    await records.get(ctx, service.AUTOMATIONS, automation_id)
    run = await get_run(ctx, automation_id, run_id)
    if run.status != "failed":
        raise RunNotFailed(f"This run is {run.status}")
    run.status, run.attempts, run.error, run.finished_at = "queued", 0, None, None
    run.due_at = clock.now()
    events.emit(ctx, "automation_run.retried", "automation_run", run.id, {"status": "queued"})
    await ctx.session.flush()
    nudge(ctx)
    return RunRead.model_validate(_shown({c.name: getattr(run, c.name) for c in _RUNS.c}))


def due_by(ctx: Ctx, moment: datetime) -> list[ColumnElement[bool]]:
    """The workspace's unfinished runs due by `moment` (the partial index on `due_at`)."""
    return [
        _RUNS.c.workspace_id == ctx.workspace_id,
        _RUNS.c.status.in_([s.value for s in UNFINISHED]),
        _RUNS.c.due_at <= moment,
    ]


async def requeue_due(ctx: Ctx, *, due_before: datetime) -> int:
    """The sweep's half: when an unfinished run due a while ago is held by no job (a nudge lost
    with Redis, a worker killed mid-step), a carrier is asked for; 1 if it was, else 0."""
    stuck = await ctx.session.scalar(
        select(_RUNS.c.id)
        .where(*due_by(ctx, due_before))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if stuck is None:
        return 0
    nudge(ctx)
    return 1
