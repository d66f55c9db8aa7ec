"""A workflow's actions are done once each however often its worker dies: the worker process is
SIGKILLed in the middle of runs again and again, then the sweeps carry every run to its end."""

import asyncio
import random
import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq import create_pool
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from app.activities.models import Activity
from app.automations import runs as automation_runs
from app.automations.models import AutomationRun
from app.core import jobs
from app.core.db import make_engine, make_sessionmaker
from app.core.jobs import job_context
from app.core.models import utcnow
from app.core.queue import redis_settings
from app.notifications.models import Notification
from tests.conftest import sign_up
from tests.factories import API, make_lead
from tests.servers import sen_process
from tests.worker_harness import eventually, running_worker
from workers.settings import dispatch_events

pytestmark = pytest.mark.usefixtures("empty_queue")
LEADS = 80
KILLS = 5
STEPS = [
    {"type": "add_tag", "tag": "mot"},
    {"type": "create_activity", "activity_type": "task", "subject": "Gọi lại", "due_in": "1h"},
    {"type": "notify", "user": "owner", "title": "Lead mới cần gọi"},
    {"type": "add_tag", "tag": "hai"},
]


async def _counts(maker: Any, workspace: uuid.UUID) -> dict[str, Any]:
    async with job_context(maker, workspace, queue=None) as ctx:
        runs = list(
            (
                await ctx.session.execute(
                    select(
                        AutomationRun.record_id, AutomationRun.status, AutomationRun.steps
                    ).where(AutomationRun.workspace_id == workspace)
                )
            ).all()
        )
        tasks = dict(
            (
                await ctx.session.execute(
                    select(Activity.related_id, func.count())
                    .where(Activity.workspace_id == workspace)
                    .group_by(Activity.related_id)
                )
            ).all()
        )
        notified = await ctx.session.scalar(
            select(func.count()).where(Notification.workspace_id == workspace)
        )
    return {"runs": runs, "tasks": tasks, "notified": notified}


async def test_a_worker_killed_again_and_again_does_each_action_once(
    tmp_path: Path, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    http = committing_client
    owner = await sign_up(http, "committing-automations-sigkill")
    headers, workspace = owner["headers"], uuid.UUID(owner["workspace_id"])
    body = {
        "name": "Lead mới",
        "active": True,
        "resource": "lead",
        "trigger": {"type": "event", "event": "lead.created"},
        "actions": STEPS,
    }
    made = await http.post(f"{API}/automations", json=body, headers=headers)
    assert made.status_code == 201, made.text
    leads = [await make_lead(http, headers, full_name=f"Khách {i}") for i in range(LEADS)]
    await jobs.wait_for_sends()
    engine = make_engine(database_url, poolclass=NullPool)
    maker = make_sessionmaker(engine)

    async def steps_done() -> int:
        found = await _counts(maker, workspace)
        return sum(len([s for s in r.steps if s["outcome"] == "done"]) for r in found["runs"])

    pool = await create_pool(redis_settings(redis_url))

    async def nets() -> None:
        """The nets under the nudges: events left unnumbered, runs left mid-way."""
        await dispatch_events({"sessionmaker": maker, "redis": pool}, str(workspace))
        async with job_context(maker, workspace, queue=pool) as ctx:
            await automation_runs.requeue_due(ctx, due_before=utcnow())

    chance = random.Random(20261203)
    progress = [0]
    for _ in range(KILLS):
        # A few runs a transaction, so a kill lands between commits as well as within one.
        worker = sen_process(
            "worker", tmp_path, database_url, redis_url, SEN_WORKFLOW_RUNS_PER_BATCH="3"
        )

        async def working(before: int = progress[-1]) -> bool:
            return await steps_done() > before

        try:
            # Looked for closely: a worker carries a batch of runs in a few milliseconds.
            started = await eventually(working, seconds=30, every=0.01)
            await asyncio.sleep(chance.uniform(0, 0.05))  # somewhere in the middle of one
        finally:  # a worker left running would take the next tests' jobs
            worker.send_signal(signal.SIGKILL)
            await asyncio.to_thread(worker.wait, 10)
        assert started, (tmp_path / "worker.log").read_text()[-3000:]  # it did actions
        progress.append(await steps_done())
        await nets()  # what the sweeps do a minute later, now: the killed worker's jobs are gone

    async with running_worker(database_url, redis_url):

        async def all_completed() -> bool:
            await nets()
            found = await _counts(maker, workspace)
            statuses = [r.status for r in found["runs"]]
            return len(statuses) == LEADS and set(statuses) == {"completed"}

        assert await eventually(all_completed, seconds=60)
    await pool.aclose()
    found = await _counts(maker, workspace)
    await engine.dispose()

    assert progress[-1] < LEADS * len(STEPS)  # every kill landed while work was left
    assert sorted(str(r.record_id) for r in found["runs"]) == sorted(lead["id"] for lead in leads)
    assert {len(r.steps) for r in found["runs"]} == {len(STEPS)}  # no step twice in a run
    assert found["tasks"] == {uuid.UUID(lead["id"]): 1 for lead in leads}
    assert found["notified"] == LEADS
    for lead in leads:
        shown = await http.get(f"{API}/leads/{lead['id']}", headers=headers)
        assert shown.json()["tags"] == ["mot", "hai"]
