"""arq WorkerSettings: job functions and cron schedules. Jobs call services, with ids; each runs
in core's `job_context` (one transaction, committed once), sweeps in `in_every_workspace`."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
from arq import Retry, cron
from arq.worker import func

from app.activities import service as activities
from app.automations import runner as automation_runner
from app.automations import runs as automation_runs
from app.core import clock, events
from app.core.context import Ctx
from app.core.db import make_engine, make_sessionmaker
from app.core.idempotency import forget_expired
from app.core.jobs import in_every_workspace, job_context
from app.core.models import utcnow
from app.core.ratelimit import take_turn
from app.core.settings import get_settings
from app.duplicates import scans as duplicate_scans
from app.emails import mail_settings as emails_mail_settings
from app.emails import sending as emails_sending
from app.emails import smtp as emails_smtp
from app.exports import service as exports
from app.imports import job as import_job
from app.imports import service as imports
from app.intake import service as intake
from app.integrations import meta
from app.webhooks import delivery as webhook_delivery
from app.webhooks.sending import webhook_client


async def startup(ctx: dict[str, Any]) -> None:
    jobs = get_settings().worker_jobs  # one connection for each job running at once
    ctx["engine"] = make_engine(ctx["database_url"], pool_size=jobs, max_overflow=2)
    ctx["sessionmaker"] = make_sessionmaker(ctx["engine"])
    ctx["http"] = httpx.AsyncClient(follow_redirects=False)  # Meta's Graph API
    ctx["webhook_http"] = webhook_client()  # customers' receivers: see app/webhooks/sending.py


async def shutdown(ctx: dict[str, Any]) -> None:
    engine = ctx.pop("engine", None)  # absent when startup never ran (Redis was down)
    if engine is not None:
        await engine.dispose()
    for name in ("http", "webhook_http"):
        http = ctx.pop(name, None)
        if http is not None:
            await http.aclose()


async def forget_expired_idempotency_keys(ctx: dict[str, Any]) -> int:
    """Idempotency keys are kept SEN_IDEMPOTENCY_HOURS; each workspace is swept in its own
    transaction, under its own RLS setting. Running it twice deletes nothing more."""
    cutoff = utcnow() - timedelta(hours=get_settings().idempotency_hours)

    async def forget(job: Ctx) -> int:
        return await forget_expired(job, older_than=cutoff)

    return sum(await in_every_workspace(ctx["sessionmaker"], forget, queue=ctx.get("redis")))


async def deliver_reminder(ctx: dict[str, Any], workspace_id: str, activity_id: str) -> int:
    """The nudge scheduled for an activity's `remind_at`: delivers it if it is still due (not
    completed, deleted or moved later). Running it twice delivers nothing more."""
    async with job_context(
        ctx["sessionmaker"], uuid.UUID(workspace_id), queue=ctx.get("redis")
    ) as job:
        return await activities.deliver_due_reminders(
            job, now=utcnow(), activity_id=uuid.UUID(activity_id)
        )


async def sweep_reminders(ctx: dict[str, Any]) -> int:
    """The net under the nudges: every reminder due and not delivered, in every workspace (a
    job lost with Redis, or due while no worker ran, is delivered here)."""
    now = utcnow()

    async def deliver(job: Ctx) -> int:
        return await activities.deliver_due_reminders(job, now=now)

    return sum(await in_every_workspace(ctx["sessionmaker"], deliver, queue=ctx.get("redis")))


async def process_submission(ctx: dict[str, Any], workspace_id: str, submission_id: str) -> str:
    """Turn one stored submission into its lead. Running it twice, or beside another run,
    changes nothing more (the submission is locked and its status checked). A Meta lead is
    read from the Graph API first, holding no transaction; Graph down or slow retries the job
    later (arq's Retry), the submission still `received`."""
    maker, workspace, sid = ctx["sessionmaker"], uuid.UUID(workspace_id), uuid.UUID(submission_id)
    try:
        return await _process(ctx, workspace, sid)
    except Retry:
        raise
    except Exception as error:
        # Rolled back with its job: counted here, in a transaction of its own, so a failure no
        # rule foresaw ends `failed` and shows, instead of the sweep retrying it forever unseen.
        async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
            await intake.record_crash(job, sid, error, give_up_after=CRASHES_BEFORE_FAILED)
        raise


CRASHES_BEFORE_FAILED = 5


async def _process(ctx: dict[str, Any], workspace: uuid.UUID, sid: uuid.UUID) -> str:
    maker = ctx["sessionmaker"]
    async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
        work = await intake.pending_work(job, sid)
    if work is None:
        return "not waiting"
    fetched = None
    if work.fetch is not None:
        fetched = await meta.fetch_lead(ctx["http"], *work.fetch)
    async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
        settled = await intake.settle_submission(job, sid, fetched=fetched)
    if settled is None:
        return "not waiting"
    if settled.retry_in is not None:  # after the commit that kept the try and its reason
        raise Retry(defer=settled.retry_in)
    return settled.status


async def sweep_submissions(ctx: dict[str, Any]) -> int:
    """The net under the nudges: submissions still waiting after SEN_INTAKE_RETRY_AFTER_SECONDS
    (a nudge lost with Redis, a worker killed mid-job) are handed to the worker again."""
    cutoff = utcnow() - timedelta(seconds=get_settings().intake_retry_after_seconds)

    async def requeue(job: Ctx) -> int:
        return await intake.requeue_waiting(job, received_before=cutoff)

    return sum(await in_every_workspace(ctx["sessionmaker"], requeue, queue=ctx.get("redis")))


async def prune_submission_payloads(ctx: dict[str, Any]) -> int:
    """Raw payloads are kept SEN_INTAKE_PAYLOAD_DAYS; what became of each submission stays."""
    cutoff = utcnow() - timedelta(days=get_settings().intake_payload_days)

    async def prune(job: Ctx) -> int:
        return await intake.prune_payloads(job, received_before=cutoff)

    return sum(await in_every_workspace(ctx["sessionmaker"], prune, queue=ctx.get("redis")))


async def run_export(ctx: dict[str, Any], workspace_id: str, export_id: str) -> str:
    """Write one queued export's file, as the member who asked for it. Running it twice, or
    beside another run, writes nothing more (the export is marked running first, and written
    only while it is). A failure is kept on the export, with why, in a transaction of its own."""
    maker, workspace, eid = ctx["sessionmaker"], uuid.UUID(workspace_id), uuid.UUID(export_id)
    async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
        if not await exports.start_export(job, eid):
            return "not queued"
    try:
        async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
            written = await exports.write_export(job, eid)
    except exports.ExportCannotRun as error:
        async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
            await exports.record_failure(job, eid, str(error))
        return "failed"
    except Exception as error:
        async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
            await exports.record_failure(job, eid, f"Could not be written ({type(error).__name__})")
        raise
    return "completed" if written is not None else "not running"


async def run_duplicate_scan(ctx: dict[str, Any], workspace_id: str, scan_id: str) -> str:
    """Check every live record of a scan's kind against the rules, a batch per transaction
    (a killed worker's scan resumes at its last committed batch); a failure is kept on it."""
    maker, workspace, sid = ctx["sessionmaker"], uuid.UUID(workspace_id), uuid.UUID(scan_id)
    async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
        if not await duplicate_scans.start_scan(job, sid):
            return "ended already"
    try:
        more = True
        while more:
            async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
                more = await duplicate_scans.scan_batch(job, sid)
    except Exception as error:
        async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
            await duplicate_scans.record_failure(
                job, sid, f"The scan stopped ({type(error).__name__})"
            )
        raise
    return "completed"


async def sweep_duplicate_scans(ctx: dict[str, Any]) -> int:
    """Scans whose nudge was lost, or whose worker died mid-way, are sent to a worker again."""
    now = utcnow()

    async def requeue(job: Ctx) -> int:
        return await duplicate_scans.requeue_waiting(
            job, queued_before=now - timedelta(minutes=1), running_before=now - timedelta(minutes=5)
        )

    return sum(await in_every_workspace(ctx["sessionmaker"], requeue, queue=ctx.get("redis")))


# The longest an export job may run: a million rows take minutes, not this.
EXPORT_TIMEOUT_SECONDS = 3600


async def sweep_exports(ctx: dict[str, Any]) -> int:
    """The net under the nudges: exports still queued a minute after they were asked for (the
    nudge was lost with Redis), and running ones no job holds any more (their worker died)."""
    now = utcnow()

    async def requeue(job: Ctx) -> int:
        return await exports.requeue_waiting(
            job, queued_before=now - timedelta(minutes=1), running_before=now - timedelta(minutes=5)
        )

    return sum(await in_every_workspace(ctx["sessionmaker"], requeue, queue=ctx.get("redis")))


async def delete_expired_exports(ctx: dict[str, Any]) -> int:
    """Export files are kept SEN_EXPORT_TTL_HOURS after they were written, then deleted."""
    now = utcnow()

    async def delete(job: Ctx) -> int:
        return await exports.delete_expired_files(job, now=now)

    return sum(await in_every_workspace(ctx["sessionmaker"], delete, queue=ctx.get("redis")))


async def run_import(ctx: dict[str, Any], workspace_id: str, import_id: str) -> str:
    """Save one queued import's rows as the member who asked, a batch per transaction with its
    progress; resumed after the last committed batch when run again. A second run beside a
    live one saves nothing (each batch checks where the import stands, under a row lock)."""
    return await import_job.run_import(
        ctx["sessionmaker"], uuid.UUID(workspace_id), uuid.UUID(import_id), queue=ctx.get("redis")
    )


# A 100,000-row import with duplicate checks takes minutes; a stalled one is found by the sweep.
IMPORT_TIMEOUT_SECONDS = 3 * 3600
# A running import whose progress hasn't moved for this long lost its worker (a batch takes
# seconds).
IMPORT_STALLED_AFTER = timedelta(minutes=2)


async def sweep_imports(ctx: dict[str, Any]) -> int:
    """The net under the nudges: imports still queued a minute after they were asked for, and
    running ones whose progress stopped (their worker died): queued again, they resume."""
    now = utcnow()

    async def requeue(job: Ctx) -> int:
        return await imports.requeue_waiting(
            job, queued_before=now - timedelta(minutes=1), stalled_before=now - IMPORT_STALLED_AFTER
        )

    return sum(await in_every_workspace(ctx["sessionmaker"], requeue, queue=ctx.get("redis")))


async def dispatch_events(ctx: dict[str, Any], workspace_id: str) -> int:
    """Number the workspace's new events in commit order and hand them to the workflows and
    webhooks that want them, a batch per transaction until none wait. With another dispatcher
    of the workspace at work, this one tries again shortly (that one may have read before the
    events that nudged this one committed). Running it twice hands nothing over twice."""
    maker, workspace = ctx["sessionmaker"], uuid.UUID(workspace_id)
    handed = 0
    while True:
        async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
            if not await events.take_dispatch_turn(job):
                events.dispatch_again_soon(job, after=DISPATCH_RETRY)
                return handed
            batch = await events.dispatch_batch(job)
        handed += batch
        if batch < events.DISPATCH_BATCH:
            return handed


DISPATCH_RETRY = timedelta(milliseconds=200)


async def sweep_events(ctx: dict[str, Any]) -> int:
    """The net under the nudges: a workspace with an event left undispatched for ten seconds
    (its nudge lost with Redis, or made while no worker ran) gets a dispatcher."""
    cutoff = utcnow() - timedelta(seconds=10)

    async def nudge(job: Ctx) -> int:
        if not await events.undispatched_since(job, cutoff):
            return 0
        events.dispatch_again_soon(job, after=timedelta(0))
        return 1

    return sum(await in_every_workspace(ctx["sessionmaker"], nudge, queue=ctx.get("redis")))


async def forget_old_events(ctx: dict[str, Any]) -> int:
    """Events are kept SEN_EVENTS_KEEP_DAYS days (history keeps every change for good)."""
    cutoff = utcnow() - timedelta(days=get_settings().events_keep_days)

    async def forget(job: Ctx) -> int:
        return await events.forget_old_events(job, older_than=cutoff)

    return sum(await in_every_workspace(ctx["sessionmaker"], forget, queue=ctx.get("redis")))


async def carry_automation_runs(ctx: dict[str, Any], workspace_id: str) -> int:
    """Carry the workspace's due workflow runs on, a batch per transaction until none is left
    due (app/automations/runner.py). Beside another carrier each takes runs the other does not
    hold; running it twice does no action twice (a run is locked while its step is done and
    its next action recorded with it)."""
    maker, workspace = ctx["sessionmaker"], uuid.UUID(workspace_id)
    limit, carried = get_settings().workflow_runs_per_batch, 0
    while True:
        try:
            async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
                batch = await automation_runner.carry_due_runs(job, limit=limit)
        except Exception:  # an action failed: the batch again, each action on its own
            async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
                batch = await automation_runner.carry_due_runs(job, limit=limit, careful=True)
        carried += batch
        if batch < limit:
            return carried


async def fire_automations(ctx: dict[str, Any]) -> int:
    """Date and schedule workflows whose time has come, in every workspace: runs for the
    records they fire for (each once per occurrence, however often this runs)."""

    async def fire(job: Ctx) -> int:
        return await automation_runs.fire_due(job)

    return sum(await in_every_workspace(ctx["sessionmaker"], fire, queue=ctx.get("redis")))


async def sweep_automation_runs(ctx: dict[str, Any]) -> int:
    """The net under the nudges: runs due for a while that no job holds (a nudge lost with
    Redis, a worker killed mid-step) are asked for again."""
    cutoff = clock.now() - timedelta(seconds=30)

    async def requeue(job: Ctx) -> int:
        return await automation_runs.requeue_due(job, due_before=cutoff)

    return sum(await in_every_workspace(ctx["sessionmaker"], requeue, queue=ctx.get("redis")))


async def send_email(ctx: dict[str, Any], workspace_id: str, email_id: str) -> str:
    """Send one queued email (app/emails/sending.py holds the rules: its row locked while it
    is sent, so a second job sends nothing; the send rate waited for, never dropped). A
    failure no rule foresaw rolls back and is counted in a transaction of its own."""
    maker, workspace, eid = ctx["sessionmaker"], uuid.UUID(workspace_id), uuid.UUID(email_id)
    redis = ctx.get("redis")

    async def turn(workspace: uuid.UUID, per_minute: int) -> float:
        return await take_turn(redis, "email", per_minute, 60, str(workspace))

    try:
        async with job_context(maker, workspace, queue=redis) as job:
            attempt = await emails_sending.send_queued_email(job, eid, turn=turn)
    except Exception as error:
        async with job_context(maker, workspace, queue=redis) as job:
            await emails_sending.record_crash(job, eid, error)
        raise
    return attempt.status


async def sweep_emails(ctx: dict[str, Any]) -> int:
    """The net under the nudges: queued emails due a minute ago and still not sent (a nudge
    lost with Redis, a worker killed mid-send) are handed to the worker again."""
    cutoff = utcnow() - timedelta(minutes=1)

    async def requeue(job: Ctx) -> int:
        return await emails_sending.requeue_waiting(job, due_before=cutoff)

    return sum(await in_every_workspace(ctx["sessionmaker"], requeue, queue=ctx.get("redis")))


async def send_webhook(ctx: dict[str, Any], workspace_id: str, delivery_id: str) -> str:
    """One attempt at a webhook delivery, if it is still due (claimed under a row lock first):
    running it twice, or beside another run, sends nothing more. A failed attempt schedules
    its retry as a deferred job of its own."""
    return await webhook_delivery.send_delivery(
        ctx["sessionmaker"],
        uuid.UUID(workspace_id),
        uuid.UUID(delivery_id),
        http=ctx["webhook_http"],
        queue=ctx.get("redis"),
    )


async def sweep_webhook_deliveries(ctx: dict[str, Any]) -> int:
    """The net under the nudges: deliveries due and not sent (a nudge lost with Redis, a
    worker killed mid-attempt) are handed to the worker again."""
    now = utcnow()

    async def requeue(job: Ctx) -> int:
        return await webhook_delivery.requeue_due(job, now=now)

    return sum(await in_every_workspace(ctx["sessionmaker"], requeue, queue=ctx.get("redis")))


async def check_mail_settings(ctx: dict[str, Any], workspace_id: str, version: int) -> str:
    """Connect to the workspace's SMTP server and sign in, holding no transaction while it
    talks to the server; the outcome is kept on the settings it checked."""
    maker, workspace = ctx["sessionmaker"], uuid.UUID(workspace_id)
    async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
        server = await emails_mail_settings.server_to_check(job, version)
    if server is None:
        return "changed since"
    failure = None
    try:
        await emails_smtp.check(server)
    except emails_smtp.SmtpFailure as error:
        failure = error.reason
    async with job_context(maker, workspace, queue=ctx.get("redis")) as job:
        await emails_mail_settings.record_check(job, version, failure)
    return "failed" if failure else "ok"


FUNCTIONS = [
    forget_expired_idempotency_keys,
    deliver_reminder,
    sweep_reminders,
    # Its own count of tries bounds a Meta lead's retries (SEN_META_FETCH_TRIES): arq's must
    # not cut it short.
    func(process_submission, max_tries=64),
    sweep_submissions,
    prune_submission_payloads,
    func(run_export, timeout=EXPORT_TIMEOUT_SECONDS),
    sweep_exports,
    delete_expired_exports,
    func(run_duplicate_scan, timeout=3600),  # a million records take about half an hour
    sweep_duplicate_scans,
    func(run_import, timeout=IMPORT_TIMEOUT_SECONDS),
    sweep_imports,
    # A nudge a window (app/core/events.py): up to ten a second per busy workspace, whose
    # results nobody reads.
    func(dispatch_events, keep_result=0),
    sweep_events,
    forget_old_events,
    carry_automation_runs,
    fire_automations,
    sweep_automation_runs,
    send_email,
    sweep_emails,
    check_mail_settings,
    # An attempt is bounded by SEN_WEBHOOK_TIMEOUT_SECONDS (at most 60 s); its retries are
    # jobs of their own, never arq's.
    func(send_webhook, timeout=120, max_tries=1),
    sweep_webhook_deliveries,
]
CRON_JOBS = [
    cron(forget_expired_idempotency_keys, minute=17, unique=True),
    cron(sweep_reminders, second=30, unique=True),  # every minute
    cron(sweep_submissions, second=45, unique=True),  # every minute
    cron(prune_submission_payloads, hour=3, minute=41, unique=True),
    cron(sweep_exports, second=15, unique=True),  # every minute
    cron(sweep_duplicate_scans, second=5, unique=True),  # every minute
    cron(delete_expired_exports, minute={7, 22, 37, 52}, unique=True),
    cron(sweep_imports, second=50, unique=True),  # every minute
    cron(sweep_events, second={0, 20, 40}, unique=True),
    cron(forget_old_events, hour=4, minute=13, unique=True),
    cron(fire_automations, second=2, unique=True),  # every minute
    cron(sweep_automation_runs, second=35, unique=True),  # every minute
    cron(sweep_emails, second=25, unique=True),  # every minute
    cron(sweep_webhook_deliveries, second=55, unique=True),  # every minute
]
