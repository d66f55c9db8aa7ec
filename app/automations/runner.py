"""Carrying a run out, one action per transaction: the action's writes and the step that
records it commit together, so a worker killed mid-step leaves the step undone (and the sweep
asks for it again) and a step done is never done twice. A failing action is retried with
backoff, then the run ends `failed` with the reason, to be retried by hand."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.automations import conditions, runs, service, targets
from app.automations.actions import Subject, perform
from app.automations.models import Automation, AutomationRun
from app.automations.schemas import UNFINISHED, Conditions, RunStatus
from app.core.clock import now
from app.core.context import Ctx
from app.core.transaction import EventCause

# After the first failure of an action, it is tried again after each of these; then the run
# fails. Short enough that a mail server's hiccup passes, long enough not to hammer it.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
)


async def _locked(ctx: Ctx, run_id: uuid.UUID) -> AutomationRun | None:
    """The run, locked; None when another job holds it (that one carries it on)."""
    found: AutomationRun | None = await ctx.session.scalar(
        select(AutomationRun)
        .where(AutomationRun.workspace_id == ctx.workspace_id, AutomationRun.id == run_id)
        .with_for_update(skip_locked=True)
    )
    return found


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


async def run_step(ctx: Ctx, run_id: uuid.UUID) -> bool:
    """Do the run's next action if it is due; True when another may follow at once."""
    run = await _locked(ctx, run_id)
    if run is None or run.status not in UNFINISHED or run.due_at > now():
        return False
    automation = await ctx.session.get(Automation, (ctx.workspace_id, run.automation_id))
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
        runs.nudge(ctx, run.id, reason=f"wait:{run.next_action}", at=done.resume_at)
        return False
    run.status = RunStatus.running.value
    return True


async def record_failure(ctx: Ctx, run_id: uuid.UUID, error: Exception) -> None:
    """The step rolled back: count the try, keep why, and try again later or give up."""
    run = await _locked(ctx, run_id)
    if run is None or run.status not in UNFINISHED:
        return
    reason = f"{type(error).__name__}: {error}"[:2000]
    action = run.trigger["plan"]["actions"][run.next_action]
    _step(run, action, now(), outcome="failed", detail={}, error=reason)
    run.attempts += 1
    if run.attempts > len(RETRY_DELAYS):
        _end(run, RunStatus.failed, reason)
        return
    run.status, run.error = RunStatus.retrying.value, reason
    run.due_at = now() + RETRY_DELAYS[run.attempts - 1]
    runs.nudge(ctx, run.id, reason=f"retry:{run.next_action}:{run.attempts}", at=run.due_at)
