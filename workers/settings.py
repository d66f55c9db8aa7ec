"""arq WorkerSettings: job functions and cron schedules. Jobs call services, with ids."""

import uuid
from datetime import timedelta
from typing import Any

from arq import cron
from sqlalchemy import select

from app.activities import service as activities
from app.core.context import SYSTEM, Ctx
from app.core.db import make_engine, make_sessionmaker, system_session, workspace_session
from app.core.idempotency import forget_expired
from app.core.models import utcnow
from app.core.settings import get_settings
from app.core.tenancy import Workspace


async def startup(ctx: dict[str, Any]) -> None:
    ctx["engine"] = make_engine(ctx["database_url"], pool_size=5, max_overflow=5)
    ctx["sessionmaker"] = make_sessionmaker(ctx["engine"])


async def shutdown(ctx: dict[str, Any]) -> None:
    engine = ctx.pop("engine", None)  # absent when startup never ran (Redis was down)
    if engine is not None:
        await engine.dispose()


async def forget_expired_idempotency_keys(ctx: dict[str, Any]) -> int:
    """Idempotency keys are kept SEN_IDEMPOTENCY_HOURS; each workspace is swept in its own
    transaction, under its own RLS setting. Running it twice deletes nothing more."""
    cutoff = utcnow() - timedelta(hours=get_settings().idempotency_hours)
    async with system_session(ctx["sessionmaker"]) as session:
        workspace_ids = list(await session.scalars(select(Workspace.id)))
    removed = 0
    for workspace_id in workspace_ids:
        async with workspace_session(ctx["sessionmaker"], workspace_id) as session:
            removed += await forget_expired(session, older_than=cutoff)
            await session.commit()
    return removed


async def deliver_reminder(ctx: dict[str, Any], workspace_id: str, activity_id: str) -> int:
    """The nudge scheduled for an activity's `remind_at`: delivers it if it is still due (not
    completed, deleted or moved later). Running it twice delivers nothing more."""
    async with workspace_session(ctx["sessionmaker"], uuid.UUID(workspace_id)) as session:
        job = Ctx(session=session, actor=SYSTEM, workspace_id=uuid.UUID(workspace_id))
        delivered = await activities.deliver_due_reminders(
            job, now=utcnow(), activity_id=uuid.UUID(activity_id)
        )
        await session.commit()
    return delivered


async def sweep_reminders(ctx: dict[str, Any]) -> int:
    """The net under the nudges: every reminder due and not delivered, in every workspace (a
    job lost with Redis, or due while no worker ran, is delivered here)."""
    now = utcnow()
    async with system_session(ctx["sessionmaker"]) as session:
        workspace_ids = list(await session.scalars(select(Workspace.id)))
    delivered = 0
    for workspace_id in workspace_ids:
        async with workspace_session(ctx["sessionmaker"], workspace_id) as session:
            job = Ctx(session=session, actor=SYSTEM, workspace_id=workspace_id)
            delivered += await activities.deliver_due_reminders(job, now=now)
            await session.commit()
    return delivered


FUNCTIONS = [forget_expired_idempotency_keys, deliver_reminder, sweep_reminders]
CRON_JOBS = [
    cron(forget_expired_idempotency_keys, minute=17, unique=True),
    cron(sweep_reminders, second=30, unique=True),  # every minute
]
