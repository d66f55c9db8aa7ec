"""Jobs are enqueued only after the transaction that asked for them commits (STYLE §7): a job
never sees data that isn't there. The queue is a nudge, not the truth: what a job does is
recorded in PostgreSQL, and a cron sweep catches anything a lost message would have done.

A job's work runs in `job_context`, its transaction edge as CommittingRoute is a request's; a
sweep over every workspace is `in_every_workspace`, each workspace in its own transaction."""

import asyncio
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import structlog
from arq.connections import ArqRedis
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.context import SYSTEM, Actor, Ctx
from app.core.db import system_session, workspace_session
from app.core.models import utcnow
from app.core.tenancy import Workspace
from app.core.transaction import PendingJob, state_of

T = TypeVar("T")
log = structlog.get_logger("sen.jobs")
_in_flight: set[asyncio.Task[None]] = set()


def enqueue_after_commit(
    ctx: Ctx,
    function: str,
    *args: Any,
    job_id: str,
    defer_until: datetime | None = None,
    window: timedelta | None = None,
) -> None:
    """Ask for `function(*args)` once this transaction commits; `job_id` makes a repeat a no-op.
    A `defer_until` already past when the job is sent runs it at once. With a `window`, the
    transactions that commit within the same window share one job, run once it has closed
    (a nudge that only says "look again": many commits, one look)."""
    ctx.state.jobs.append(PendingJob(function, args, job_id, defer_until, window))


def _coalesced(job: PendingJob) -> tuple[str, datetime | None]:
    """The job's id and start: for a windowed job, the window this send falls in (its send
    comes after its commit, so the job starts after every commit of that window)."""
    if job.window is None:
        return job.job_id, job.defer_until
    width = job.window.total_seconds()
    closes = (math.floor(utcnow().timestamp() / width) + 1) * width
    return f"{job.job_id}:{int(closes * 1000)}", datetime.fromtimestamp(closes, UTC)


def send_after_commit(session: AsyncSession, queue: ArqRedis | None) -> None:
    """Hand the committed transaction's jobs to the queue, in the background: a slow or
    absent Redis delays the jobs (the sweep delivers them), never the response."""
    state = state_of(session)
    pending, state.jobs = state.jobs, []
    if not pending or queue is None:
        return
    task = asyncio.create_task(_send(queue, pending))
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)


def forget_pending(session: AsyncSession) -> None:
    """A rolled-back transaction asks for nothing."""
    state_of(session).jobs = []


async def _send(queue: ArqRedis, pending: list[PendingJob]) -> None:
    for job in pending:
        job_id, defer_until = _coalesced(job)
        if defer_until is not None and defer_until <= utcnow():
            # arq keeps a job until its time plus a day: one due over a day ago would get a
            # negative expiry and be refused. Past is due: run it now.
            defer_until = None
        try:
            await queue.enqueue_job(
                job.function, *job.args, _job_id=job_id, _defer_until=defer_until
            )
        except Exception as error:  # Redis down: the cron sweep does it instead
            log.warning("job not enqueued", function=job.function, error=str(error))


async def wait_for_sends() -> None:
    """Tests and shutdown: let the background sends finish."""
    if _in_flight:
        await asyncio.gather(*list(_in_flight), return_exceptions=True)


@asynccontextmanager
async def job_context(
    maker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    actor: Actor = SYSTEM,
    *,
    queue: ArqRedis | None,
) -> AsyncIterator[Ctx]:
    """One transaction in one workspace (RLS set with its BEGIN), committed once when the block
    succeeds and rolled back when it raises; the jobs it asked for go to `queue` after commit.
    `queue` has no default: a job that forgot it dropped every nudge its transaction asked for
    (an import's `import.completed` waited for the sweep), so each caller says which it means."""
    async with workspace_session(maker, workspace_id) as session:
        try:
            yield Ctx(session=session, actor=actor, workspace_id=workspace_id)
            await session.commit()
            send_after_commit(session, queue)
        finally:
            forget_pending(session)  # closing the session rolls back anything uncommitted


async def requeue_stuck(
    ctx: Ctx,
    model: Any,
    stuck: ColumnElement[bool],
    *,
    function: str,
    kind: str,
    limit: int = 100,
) -> int:
    """A sweep's half of a tracked job (an export, an import: a row whose `status` its job
    moves from `queued` to `running` and on). Rows of `model` matching `stuck` (still queued
    long after they were asked for: their nudge was lost with Redis; running with no sign of
    life: their worker died) are queued again and `function(workspace_id, id)` enqueued after
    commit. Rows another sweep holds are skipped. Each sweep's job id is its own, so arq never
    takes it for a repeat of an earlier nudge it still remembers."""
    rows = list(
        await ctx.session.scalars(
            select(model)
            .where(model.workspace_id == ctx.workspace_id, stuck)
            .order_by(model.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    stamp = utcnow().timestamp()
    for row in rows:
        row.status = "queued"
        job_id = f"{kind}:{row.id}:sweep:{stamp}"
        enqueue_after_commit(ctx, function, str(ctx.workspace_id), str(row.id), job_id=job_id)
    await ctx.session.flush()
    return len(rows)


async def in_every_workspace(
    maker: async_sessionmaker[AsyncSession],
    work: Callable[[Ctx], Awaitable[T]],
    *,
    queue: ArqRedis | None,
) -> list[T]:
    """`work` once per workspace, each in its own `job_context` as the system: a sweep's
    fan-out. Only the list of workspaces is read across them (as the connecting role)."""
    async with system_session(maker) as session:
        workspace_ids = list(await session.scalars(select(Workspace.id)))
    results: list[T] = []
    for workspace_id in workspace_ids:
        async with job_context(maker, workspace_id, queue=queue) as ctx:
            results.append(await work(ctx))
    return results
