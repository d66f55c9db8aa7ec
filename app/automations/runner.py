"""Carrying runs out, a batch of due runs per transaction: an action's writes and the step that
records it commit together, so a worker killed mid-batch leaves its steps undone (the sweep asks
for them again) and a step done is never done twice.

A batch first goes in one piece, since a round trip to PostgreSQL is most of what an action
costs; when any of its actions fails, it is rolled back and carried again carefully, each
action in a savepoint of its own, so the failing one undoes only its own writes. A failed action
is retried with backoff, then the run ends `failed` with the reason, to be retried by hand."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.automations import conditions, runs, service, targets
from app.automations.actions import Subject, perform
from app.automations.models import Automation, AutomationRun
from app.automations.schemas import Conditions, RunStatus
from app.core import records
from app.core.clock import now
from app.core.context import Ctx
from app.core.transaction import EventCause
from app.core.workspace_settings import with_settings_version

# After the first failure of an action, it is tried again after each of these; then the run
# fails. Short enough that a mail server's hiccup passes, long enough not to hammer it.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
)


async def carry_due_runs(ctx: Ctx, *, limit: int, careful: bool = False) -> int:
    """Carry on up to `limit` of the workspace's due runs that no other job holds, each as far
    as it goes now; the number taken (fewer than `limit`: none are left due). Not `careful`,
    a failing action raises, for the caller to roll back and carry the batch carefully."""
    ctx = await with_settings_version(ctx)  # a batch reads the rules and fields once
    due = await _due_runs(ctx, limit)
    workflows = await _workflows_of(ctx, due)
    for resource in {run.resource for run in due}:
        # One statement for the batch's records, rather than a read and a lock for each.
        ids = {run.record_id for run in due if run.resource == resource}
        await records.lock_many(ctx, targets.TARGETS[resource].resource, ids)
    for run in sorted(due, key=lambda r: (r.created_at, r.id)):
        carry = _carry_carefully if careful else _carry
        await carry(ctx, run, workflows.get(run.automation_id))
    return len(due)


async def _due_runs(ctx: Ctx, limit: int) -> Sequence[AutomationRun]:
    return (
        await ctx.session.scalars(
            select(AutomationRun)
            .where(*runs.due_by(ctx, now()))
            .order_by(AutomationRun.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()


async def _workflows_of(ctx: Ctx, due: Sequence[AutomationRun]) -> dict[uuid.UUID, Automation]:
    wanted = {run.automation_id for run in due}
    if not wanted:
        return {}
    found = await ctx.session.scalars(
        select(Automation).where(
            Automation.workspace_id == ctx.workspace_id, Automation.id.in_(wanted)
        )
    )
    return {automation.id: automation for automation in found}


async def _carry(ctx: Ctx, run: AutomationRun, automation: Automation | None) -> None:
    """The run's actions one after another until it waits or ends."""
    try:
        while await _do_next_action(ctx, run, automation):
            pass
    finally:
        ctx.state.cause = None


async def _carry_carefully(ctx: Ctx, run: AutomationRun, automation: Automation | None) -> None:
    """`_carry`, each action in a savepoint: a failing one is undone and recorded."""
    while True:
        try:
            async with ctx.session.begin_nested():
                go_on = await _do_next_action(ctx, run, automation)
        except Exception as error:
            # The savepoint's rollback expired what it had changed: read the run again (its
            # row lock is the outer transaction's, still held).
            await ctx.session.refresh(run)
            _record_failure(ctx, run, error)
            return
        finally:
            ctx.state.cause = None
        if not go_on:
            return


def _end(run: AutomationRun, status: RunStatus, error: str | None = None) -> None:
    run.status, run.error, run.finished_at = status.value, error, now()


def _step(run: AutomationRun, action: dict[str, Any], started: datetime, **outcome: Any) -> None:
    """Keep the step's outcome; a failed try of the same action replaces the one before."""
    entry = {
        "action": run.next_action,
        "type": action.get("type"),
        "attempts": run.attempts + 1,
        "started_at": started.isoformat(),
        "finished_at": now().isoformat(),
        **outcome,
    }
    kept = [
        s for s in run.steps if not (s["action"] == run.next_action and s["outcome"] == "failed")
    ]
    run.steps = [*kept, entry]


async def _do_next_action(ctx: Ctx, run: AutomationRun, automation: Automation | None) -> bool:
    """Do the run's next action; True when another may follow at once."""
    if automation is None or automation.deleted_at is not None or not automation.active:
        _end(run, RunStatus.skipped, "the workflow was switched off or deleted")
        return False
    record = await targets.read_record(ctx, run.resource, run.record_id)
    if record is None:
        _end(run, RunStatus.skipped, "the record is gone")
        return False
    plan = run.trigger["plan"]
    starting = run.started_at is None and run.next_action == 0
    if starting or run.status == RunStatus.waiting:
        holds, _ = await conditions.checked(
            ctx, run.resource, record, Conditions.model_validate(plan["conditions"]),
            run.trigger.get("changes"),
        )  # fmt: skip
        if not holds:
            _end(run, RunStatus.skipped, "its conditions do not hold")
            return False
    started = now()
    run.started_at = run.started_at or started
    action = plan["actions"][run.next_action]
    ctx.state.cause = EventCause(automation_id=run.automation_id, depth=run.depth + 1)
    subject = Subject(run.resource, record, run_id=run.id, action=run.next_action)
    done = await perform(ctx, service.actions_of([action])[0], subject)
    _step(run, action, started, outcome="done", detail=done.detail, error=None)
    run.next_action, run.attempts, run.error = run.next_action + 1, 0, None
    if run.next_action >= len(plan["actions"]):
        _end(run, RunStatus.completed)
        return False
    if done.resume_at is not None:
        run.status, run.due_at = RunStatus.waiting.value, done.resume_at
        runs.nudge(ctx, at=done.resume_at)
        return False
    run.status = RunStatus.running.value
    return True


def _record_failure(ctx: Ctx, run: AutomationRun, error: Exception) -> None:
    """The action rolled back: count the try, keep why, and try again later or give up."""
    reason = f"{type(error).__name__}: {error}"[:2000]
    action = run.trigger["plan"]["actions"][run.next_action]
    _step(run, action, now(), outcome="failed", detail={}, error=reason)
    run.attempts += 1
    if run.attempts > len(RETRY_DELAYS):
        _end(run, RunStatus.failed, reason)
        return
    run.status, run.error = RunStatus.retrying.value, reason
    run.due_at = now() + RETRY_DELAYS[run.attempts - 1]
    runs.nudge(ctx, at=run.due_at)
