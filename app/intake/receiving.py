"""Receiving: what a form or an ad platform sent, checked and stored as submissions before
anyone is told it was accepted (DESIGN §7), and the worker nudged once that commits."""

import re
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.core.context import Ctx
from app.core.errors import Unprocessable
from app.core.events import emit
from app.core.ids import new_id
from app.core.jobs import enqueue_after_commit
from app.core.models import table_of, utcnow
from app.core.schemas import EMAIL_PATTERN
from app.forms.models import Form
from app.intake.models import Submission
from app.intake.schemas import SubmissionStatus, WebhookReceived
from app.integrations.models import Integration
from app.integrations.payloads import Delivered

PROCESS_SUBMISSION = "process_submission"  # the worker's job (workers/settings.py)
TRACKING = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CLICK_IDS = ("gclid", "fbclid")
MAX_VALUE_CHARS = {"textarea": 10_000}
DEFAULT_MAX_CHARS = 1_000
_EMAIL = re.compile(EMAIL_PATTERN)
_TABLE = table_of(Submission)


def tracking_of(*sources: dict[str, str]) -> dict[str, str]:
    """UTM parameters and click ids, the first source that has each winning (query string
    before body), each cut to what a lead keeps. A NUL (which PostgreSQL can't store, and a
    query string may carry) is dropped."""
    found: dict[str, str] = {}
    for source in sources:
        for name in (*TRACKING, *CLICK_IDS):
            value = (source.get(name) or "").replace("\x00", "").strip()
            if value and name not in found:
                found[name] = value[:200]
    return found


def check_form_fields(form: Form, sent: dict[str, str]) -> dict[str, str]:
    """The form's fields as sent, trimmed; a required one missing, a malformed email, a choice
    not offered or an overlong value is a 422 naming the field. Fields it doesn't have are
    not kept."""
    kept: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    for field in form.fields:
        name, kind = field["name"], field.get("type", "text")
        value = (sent.get(name) or "").strip()
        limit = MAX_VALUE_CHARS.get(kind, DEFAULT_MAX_CHARS)
        if not value:
            if field.get("required"):
                errors.append({"field": name, "message": "required"})
            continue
        if len(value) > limit:
            errors.append({"field": name, "message": f"at most {limit} characters"})
        elif kind == "email" and not _EMAIL.match(value):
            errors.append({"field": name, "message": "not an email address"})
        elif kind == "select" and value not in field.get("options", []):
            errors.append({"field": name, "message": "not one of the choices"})
        else:
            kept[name] = value
    if errors:
        raise Unprocessable(errors)
    return kept


async def receive_form_submission(
    ctx: Ctx, form: Form, sent: dict[str, str], context: dict[str, Any]
) -> Submission:
    """Store what a form was sent, before anyone is told it was accepted. A filled honeypot is
    stored as spam and makes no lead; anything else is checked (422) and queued for the
    worker, which is nudged once this transaction commits."""
    spam = bool((sent.get(form.honeypot_field) or "").strip())
    payload = {k: v[:DEFAULT_MAX_CHARS] for k, v in sent.items()} if spam else {}
    if not spam:
        payload = check_form_fields(form, sent)
    submission = Submission(
        workspace_id=ctx.workspace_id,
        id=new_id(),
        provider="form",
        form_id=form.id,
        status=SubmissionStatus.spam if spam else SubmissionStatus.received,
        payload=payload,
        context=context,
        attempts=0,
        received_at=utcnow(),
    )
    ctx.session.add(submission)
    await ctx.session.flush()
    announce_received(ctx, submission.id, submission.status, provider="form")
    if not spam:
        nudge_worker(ctx, submission.id)
    return submission


def _row(
    ctx: Ctx, integration: Integration, lead: Delivered, context: dict[str, Any]
) -> dict[str, Any]:
    status = SubmissionStatus.test if lead.test else SubmissionStatus.received
    if lead.error is not None:
        status = SubmissionStatus.failed
    return {
        "workspace_id": ctx.workspace_id,
        "id": new_id(),
        "provider": integration.provider,
        "form_id": None,
        "integration_id": integration.id,
        "external_id": lead.external_id,
        "status": status.value,
        "payload": lead.payload,
        "context": {**context, **lead.context},
        "attempts": 0,
        "retries": 0,
        "error": lead.error,
        "received_at": utcnow(),
    }


async def receive_platform_leads(
    ctx: Ctx,
    integration: Integration,
    delivered: Sequence[Delivered],
    context: dict[str, Any] | None = None,
) -> WebhookReceived:
    """Store what a platform delivered before it is told so: a submission per lead, except a
    lead whose external id the integration already has (platforms retry and batch), which
    keeps its first, even when two deliveries race (the unique index settles it, in one
    statement). A test lead is stored as `test` and makes no lead; the others are queued.
    `context`: where the delivery came from, kept with each."""
    rows: list[dict[str, Any]] = []
    slots: list[dict[str, Any]] = []  # each delivered lead's row: a repeated id shares one
    first: dict[str, dict[str, Any]] = {}
    for lead in delivered:
        row = first.get(lead.external_id) if lead.external_id is not None else None
        if row is None:
            row = _row(ctx, integration, lead, context or {})
            rows.append(row)
            if lead.external_id is not None:
                first[lead.external_id] = row
        slots.append(row)
    if not rows:
        return WebhookReceived(submission_ids=[], redelivered=0)
    stored = (
        insert(_TABLE)
        .values(rows)
        .on_conflict_do_nothing(
            index_elements=["workspace_id", "integration_id", "external_id"],
            index_where=_TABLE.c.external_id.is_not(None),
        )
    )
    new = set(await ctx.session.scalars(stored.returning(_TABLE.c.id)))
    known: dict[str, uuid.UUID] = {}
    again = [row["external_id"] for row in rows if row["id"] not in new]
    if again:
        found = await ctx.session.execute(
            select(_TABLE.c.external_id, _TABLE.c.id).where(
                _TABLE.c.workspace_id == ctx.workspace_id,
                _TABLE.c.integration_id == integration.id,
                _TABLE.c.external_id.in_(again),
            )
        )
        known = {row.external_id: row.id for row in found}
    for row in rows:
        if row["id"] in new:
            announce_received(ctx, row["id"], row["status"], provider=integration.provider)
        if row["id"] in new and row["status"] == SubmissionStatus.received:
            nudge_worker(ctx, row["id"])
    ids = [row["id"] if row["id"] in new else known[row["external_id"]] for row in slots]
    return WebhookReceived(submission_ids=ids, redelivered=len(ids) - len(new))


def announce_received(ctx: Ctx, submission_id: uuid.UUID, status: str, *, provider: str) -> None:
    """`submission.received`: stored, whatever becomes of it (`spam` and `test` ones too)."""
    received = {"status": str(status), "provider": str(provider)}
    emit(ctx, "submission.received", "submission", submission_id, received)


def nudge_worker(ctx: Ctx, submission_id: uuid.UUID, *, reason: str = "new") -> None:
    """Ask the worker to process it after commit. A lost nudge is found by the sweep."""
    enqueue_after_commit(
        ctx,
        PROCESS_SUBMISSION,
        str(ctx.workspace_id),
        str(submission_id),
        job_id=f"submission:{submission_id}:{reason}",
    )
