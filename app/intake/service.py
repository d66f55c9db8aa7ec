"""Intake: what becomes of a stored submission (receiving.py stores them). The worker turns
each into its lead once (DESIGN §7); a sweep re-nudges what waits, a replay runs one again,
old payloads are pruned. With receiving.py, the only place that writes submissions."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import null, or_, select, update

from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, SenError, Unprocessable
from app.core.events import emit
from app.core.history import jsonable
from app.core.models import table_of, utcnow
from app.core.pagination import FilterOn, Page, apply_filters, at_least, before, equals, one_of
from app.core.pagination import paginate as paginate_rows
from app.core.settings import get_settings
from app.forms.models import Form
from app.intake import processing, receiving
from app.intake.models import Submission
from app.intake.schemas import (
    SubmissionQuery,
    SubmissionRead,
    SubmissionStatus,
)
from app.integrations.meta import Fetched
from app.integrations.models import Integration
from app.integrations.schemas import IntegrationProvider

_TABLE = table_of(Submission)
MAX_RETRY_SECONDS = 3600


class SubmissionNotFound(NotFound):
    code, title = "submission_not_found", "Submission not found"


class SubmissionIsTest(Conflict):
    code, title = "submission_is_test", "A test lead makes no lead"


class SubmissionAlreadyProcessed(Conflict):
    code, title = "submission_processed", "This submission already made its lead"


async def _locked(ctx: Ctx, submission_id: uuid.UUID) -> Submission | None:
    return await ctx.session.get(
        Submission,
        (ctx.workspace_id, submission_id),
        with_for_update=True,
        populate_existing=True,
    )


@dataclass(frozen=True)
class Waiting:
    """A submission the worker should take up; `fetch`: the Meta lead to read from Graph
    first (leadgen id, page access token), outside any transaction."""

    fetch: tuple[str, str] | None = None


async def pending_work(ctx: Ctx, submission_id: uuid.UUID) -> Waiting | None:
    """What the worker has to do for a submission: None when it is not waiting (done, or its
    retry is due later)."""
    submission = await ctx.session.get(Submission, (ctx.workspace_id, submission_id))
    if submission is None or submission.status != SubmissionStatus.received:
        return None
    if submission.retry_at is not None and submission.retry_at > utcnow() + timedelta(seconds=1):
        return None
    if _needs_fetch(submission):
        integration = await ctx.session.get(
            Integration, (ctx.workspace_id, submission.integration_id)
        )
        if integration is not None:
            token = integration.config["page_access_token"]
            return Waiting(fetch=(str((submission.payload or {}).get("leadgen_id")), token))
    return Waiting()


def _needs_fetch(submission: Submission) -> bool:
    return submission.provider == IntegrationProvider.meta and "lead" not in (
        submission.payload or {}
    )


@dataclass(frozen=True)
class Settled:
    """What became of a submission the worker took up; `retry_in`: seconds until its source
    is tried again (it stays `received`)."""

    status: str
    retry_in: float | None = None


def _retry_delay(retries: int) -> float:
    return float(min(get_settings().meta_retry_seconds * 2 ** (retries - 1), MAX_RETRY_SECONDS))


def _fetch_failed(submission: Submission, fetched: Fetched) -> Settled:
    """Graph down or slow: tried again later, up to SEN_META_FETCH_TRIES in all, then
    `failed`; a refusal (an invalid token: error 190) fails it at once. Either way the reason
    is kept."""
    tries = get_settings().meta_fetch_tries
    if fetched.transient and submission.retries + 1 < tries:
        submission.retries += 1
        delay = _retry_delay(submission.retries)
        submission.retry_at = utcnow() + timedelta(seconds=delay)
        submission.error = fetched.error
        return Settled(SubmissionStatus.received, retry_in=delay)
    submission.status = SubmissionStatus.failed
    submission.retry_at = None
    after = f" (after {submission.retries + 1} tries)" if fetched.transient else ""
    submission.error = f"{fetched.error}{after}"[:2000]
    submission.processed_at = utcnow()
    return Settled(SubmissionStatus.failed)


async def settle_submission(
    ctx: Ctx, submission_id: uuid.UUID, *, fetched: Fetched | None = None
) -> Settled | None:
    """Turn a received submission into its lead (or mark it a duplicate or failed), once: the
    row is locked and its status checked, so a second run, or one beside it, changes nothing.
    A Meta lead comes with what Graph answered for it (`fetched`, read outside the lock); a
    failure for now leaves it `received` with its next try due. None when it was not
    waiting."""
    submission = await _locked(ctx, submission_id)
    if submission is None or submission.status != SubmissionStatus.received:
        return None
    submission.attempts += 1
    if fetched is not None and _needs_fetch(submission):
        if fetched.lead is None:
            settled = _fetch_failed(submission, fetched)
            await ctx.session.flush()
            return settled
        submission.payload = {**(submission.payload or {}), "lead": fetched.lead}
    submission.retry_at = None
    try:
        async with ctx.session.begin_nested():  # a refused lead leaves the submission to mark
            outcome = await processing.lead_from(ctx, submission)
    except (SenError, ValidationError) as error:
        submission.status = SubmissionStatus.failed
        submission.error = _reason(error)
    else:
        submission.status = outcome.status
        submission.lead_id = outcome.lead_id
        submission.duplicate_of_type = outcome.duplicate_of_type
        submission.duplicate_of_id = outcome.duplicate_of_id
        submission.error = None
    submission.processed_at = utcnow()
    _announce_settled(ctx, submission)
    await ctx.session.flush()
    return Settled(submission.status)


def _announce_settled(ctx: Ctx, submission: Submission) -> None:
    """`submission.processed` (its lead made), `.duplicate` (an existing record came back) or
    `.failed` (with why)."""
    settled = {
        "status": str(submission.status),
        "lead_id": jsonable(submission.lead_id),
        "duplicate_of_type": submission.duplicate_of_type,
        "duplicate_of_id": jsonable(submission.duplicate_of_id),
        "error": submission.error,
    }
    emit(ctx, f"submission.{submission.status}", "submission", submission.id, settled)


async def process_submission(ctx: Ctx, submission_id: uuid.UUID) -> str | None:
    """`settle_submission` of one with nothing to fetch first: its status, or None when it
    was not waiting."""
    settled = await settle_submission(ctx, submission_id)
    return None if settled is None else settled.status


async def record_crash(
    ctx: Ctx, submission_id: uuid.UUID, error: Exception, *, give_up_after: int
) -> None:
    """A run that failed in a way no rule foresaw (its work rolled back) is counted on the
    submission, with the error; the `give_up_after`-th ends it `failed`, to be replayed."""
    submission = await _locked(ctx, submission_id)
    if submission is None or submission.status != SubmissionStatus.received:
        return
    submission.attempts += 1
    submission.error = f"{type(error).__name__}: {_reason(error)}"[:2000]
    if submission.attempts >= give_up_after:
        submission.status = SubmissionStatus.failed
        submission.processed_at = utcnow()
        _announce_settled(ctx, submission)
    await ctx.session.flush()


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )[:2000]
    if isinstance(error, Unprocessable):
        return error.detail[:2000]
    return (str(error) or type(error).__name__)[:2000]


async def list_submissions(ctx: Ctx, query: SubmissionQuery) -> Page[SubmissionRead]:
    """A page of the workspace's submissions, newest first."""
    stmt = apply_filters(select(*_LISTED), query, _FILTERS, FilterOn(_TABLE.c, ctx.workspace_id))
    rows = await paginate_rows(ctx, stmt, query, table=_TABLE)
    return rows.page(SubmissionRead)


_LISTED = [_TABLE.c[name] for name in SubmissionRead.model_fields]
_FILTERS = {
    "status": one_of("status"),
    "provider": equals("provider"),
    "form_id": equals("form_id"),
    "integration_id": equals("integration_id"),
    "received_after": at_least("received_at"),
    "received_before": before("received_at"),
}


async def get_submission(ctx: Ctx, submission_id: uuid.UUID) -> Submission:
    found = await ctx.session.get(Submission, (ctx.workspace_id, submission_id))
    if found is None:
        raise SubmissionNotFound()
    return found


async def replay_submission(ctx: Ctx, submission_id: uuid.UUID) -> Submission:
    """Run a submission through processing again (after fixing what made it fail, say): it is
    `received` again and the worker takes it up. One that made its lead is a 409."""
    submission = await _locked(ctx, submission_id)
    if submission is None:
        raise SubmissionNotFound()
    if submission.status == SubmissionStatus.processed:
        raise SubmissionAlreadyProcessed("Its lead exists; edit the lead instead")
    if submission.status == SubmissionStatus.test:
        raise SubmissionIsTest(
            "A platform's test lead is kept to show it arrived; it makes no lead"
        )
    if submission.payload is None:
        raise Unprocessable([{"field": "payload", "message": "pruned: nothing left to replay"}])
    if submission.status == SubmissionStatus.spam and submission.form_id is not None:
        # Never checked when it came (the honeypot was filled): checked now, as a post is.
        form = await ctx.session.get(Form, (ctx.workspace_id, submission.form_id))
        if form is not None:
            submission.payload = receiving.check_form_fields(form, submission.payload)
    submission.status = SubmissionStatus.received
    submission.error = None
    submission.retries = 0
    submission.retry_at = None
    emit(ctx, "submission.replayed", "submission", submission.id, {"status": "received"})
    await ctx.session.flush()
    receiving.nudge_worker(ctx, submission.id, reason=f"replay:{uuid.uuid4().hex[:8]}")
    return submission


async def requeue_waiting(ctx: Ctx, *, received_before: datetime, limit: int = 500) -> int:
    """The sweep: nudge the worker again for submissions still `received` since before then
    (their nudge was lost with Redis, or the worker died holding them), unless their retry is
    due later."""
    waiting = await ctx.session.scalars(
        select(_TABLE.c.id)
        .where(
            _TABLE.c.workspace_id == ctx.workspace_id,
            _TABLE.c.status == SubmissionStatus.received,
            _TABLE.c.received_at < received_before,
            or_(_TABLE.c.retry_at.is_(None), _TABLE.c.retry_at <= utcnow()),
        )
        .order_by(_TABLE.c.received_at)
        .limit(limit)
    )
    found = list(waiting)
    stamp = int(utcnow().timestamp()) // 60
    for submission_id in found:
        receiving.nudge_worker(ctx, submission_id, reason=f"sweep:{stamp}")
    return len(found)


async def prune_payloads(ctx: Ctx, *, received_before: datetime) -> int:
    """Forget the raw payloads of submissions received before then; what became of them (status,
    lead, error) stays. One still waiting keeps its payload: it is what its lead is made of."""
    result = await ctx.session.execute(
        update(_TABLE)
        .where(
            _TABLE.c.workspace_id == ctx.workspace_id,
            _TABLE.c.received_at < received_before,
            _TABLE.c.payload.is_not(None),
            _TABLE.c.status != SubmissionStatus.received,
        )
        .values(payload=null())  # SQL NULL, not JSON null
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def move_submissions(
    ctx: Ctx, record_type: str, from_ids: list[uuid.UUID], to_id: uuid.UUID
) -> None:
    """Submissions that made, or found again, a `record_type` (`lead` or `contact`) among
    `from_ids` name `to_id` from now on: a merge's part. A submission is a receipt, not a
    record with a history; its raw payload is untouched."""
    table = table_of(Submission)
    if record_type == "lead":
        await ctx.session.execute(
            update(table)
            .where(table.c.workspace_id == ctx.workspace_id, table.c.lead_id.in_(from_ids))
            .values(lead_id=to_id)
        )
    await ctx.session.execute(
        update(table)
        .where(
            table.c.workspace_id == ctx.workspace_id,
            table.c.duplicate_of_type == record_type,
            table.c.duplicate_of_id.in_(from_ids),
        )
        .values(duplicate_of_id=to_id)
    )
