"""Emails about a record: queued by a person (`POST /emails`) or by the system (automations
call `queue_email`), sent by the worker, each one an `email` activity on the record's timeline
whose `outcome` follows it: `queued`, `sent`, `failed: <reason>`.

Exactly once, as far as SMTP allows. The email is rendered and stored when it is queued; the
worker sends it while it holds the email's row lock, in the transaction that then marks it
`sent`, so a second job for it (a sweep, a repeated nudge) finds it locked or no longer
queued. The one window left is a worker killed after the server took the message and before
that commit: the email is still `queued`, and the sweep sends it again, with the same
`Message-ID`, so the resend is recognisable as the same message (see docs/decisions).
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import and_, select

from app.activities import service as activities_service
from app.activities.schemas import ActivityCreate, ActivityType, RelatedType
from app.contacts import service as contacts_service
from app.contacts.models import Contact
from app.contacts.schemas import ContactUpdate
from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.events import emit
from app.core.history import jsonable
from app.core.ids import new_id
from app.core.jobs import enqueue_after_commit, requeue_stuck
from app.core.models import table_of, utcnow
from app.core.pagination import Rows, columns_of, paginate
from app.core.settings import get_settings
from app.deals.models import Deal
from app.emails import mail_settings, smtp, unsubscribe
from app.emails import service as templates
from app.emails.models import Email
from app.emails.rendering import Rendered
from app.emails.schemas import EmailQuery, EmailRead, EmailRecordType
from app.users.models import User

SEND_EMAIL = "send_email"  # the worker's job (workers/settings.py)
_ACTIVITY_BODY_MAX = 20_000
_OUTCOME_MAX = 200


class EmailNotFound(NotFound):
    code, title = "email_not_found", "Email not found"


class RecipientDoNotContact(Conflict):
    code, title = "do_not_contact", "The recipient asked not to be contacted"


class RecipientMissing(Unprocessable):
    code, title = "recipient_missing", "There is no address to send this email to"


class EmailContentInvalid(Unprocessable):
    code, title = "email_content_invalid", "Send a template or a subject and a body"


def _invalid(error: type[Unprocessable], field: str, message: str) -> Unprocessable:
    return error([{"field": field, "message": message}])


def _content(
    template_parts: dict[str, str] | None,
    subject: str | None,
    body_html: str | None,
    body_text: str | None,
) -> dict[str, str]:
    if template_parts is not None:
        if subject is not None or body_html is not None or body_text is not None:
            message = "send either `template_id` or a subject and bodies, not both"
            raise _invalid(EmailContentInvalid, "template_id", message)
        return template_parts
    if not subject:
        raise _invalid(EmailContentInvalid, "subject", "required without `template_id`")
    if not body_html and not body_text:
        raise _invalid(EmailContentInvalid, "body_text", "send `body_text` or `body_html`")
    parts = {"subject": subject, "body_html": body_html or "", "body_text": body_text or ""}
    templates.check_parts(parts)
    return parts


def _with_unsubscribe_link(rendered: Rendered, url: str) -> Rendered:
    """A marketing email always carries its link: added at the foot unless the template
    placed `{{ unsubscribe_url }}` itself."""
    html, text = rendered.body_html, rendered.body_text
    if html and escape(url) not in html:
        link = f'<a href="{escape(url)}">Hủy đăng ký / Unsubscribe</a>'
        html += f'\n<p style="font-size:12px;color:#666">{link}</p>'
    if url not in text:
        text += f"\n\n--\nHủy đăng ký / Unsubscribe: {url}"
    return Rendered(subject=rendered.subject, body_html=html, body_text=text)


def _message_id(email_id: uuid.UUID, from_email: str) -> str:
    domain = from_email.rpartition("@")[2] or "sen.invalid"
    return f"<{email_id}@{domain}>"


def _activity_body(text: str, html: str) -> str | None:
    body = text or html
    return body[:_ACTIVITY_BODY_MAX] or None


async def queue_email(
    ctx: Ctx,
    record_type: EmailRecordType,
    record_id: uuid.UUID,
    *,
    template_id: uuid.UUID | None = None,
    subject: str | None = None,
    body_html: str | None = None,
    body_text: str | None = None,
    to: str | None = None,
    marketing: bool = False,
) -> Email:
    """Render and store one email about a record the actor can see, with its `email` activity,
    and ask the worker to send it once this transaction commits. Refused: no mail server
    (409 `mail_not_configured`), a contact marked `do_not_contact` (409 `do_not_contact`),
    no address (422 `recipient_missing`), a template that does not render for this record
    (422). A `marketing` email carries an unsubscribe link and `List-Unsubscribe` header; it
    needs a contact (the one the link unsubscribes)."""
    settings = await mail_settings.get_settings(ctx, missing=mail_settings.MailNotConfigured)
    recipient = await templates.recipient_of(ctx, record_type, record_id)
    contact = recipient.contact
    if contact is not None and contact.do_not_contact:
        raise RecipientDoNotContact(f"Contact {contact.id} is marked do_not_contact")
    address = to or (contact.email if contact is not None else None)
    if not address:
        raise _invalid(RecipientMissing, "to", "the contact has no email: send `to`")
    if marketing and contact is None:
        message = "a marketing email needs a contact, whom its unsubscribe link concerns"
        raise _invalid(RecipientMissing, "record_id", message)
    template_parts = None
    if template_id is not None:
        template = await records.referenced(
            ctx, templates.EMAIL_TEMPLATES, template_id, field="template_id"
        )
        template_parts = templates.parts_of(template)
    parts = _content(template_parts, subject, body_html, body_text)

    email_id = new_id()
    url = None
    if marketing and contact is not None:
        url = unsubscribe.unsubscribe_url(
            unsubscribe.make_token(ctx.workspace_id, contact.id, email_id)
        )
    variables = await templates.variables_for(ctx, recipient, unsubscribe_url=url)
    rendered = templates.render_parts(parts, variables)
    if url is not None:
        rendered = _with_unsubscribe_link(rendered, url)

    owner_id = ctx.actor.user_id or await _active_owner(ctx, recipient.record)
    activity = await activities_service.create_activity(
        ctx,
        ActivityCreate(
            type=ActivityType.email,
            subject=rendered.subject[:200],
            body=_activity_body(rendered.body_text, rendered.body_html),
            outcome="queued",
            owner_id=owner_id,
            related_type=RelatedType(record_type.value),
            related_id=record_id,
        ),
    )
    email = Email(
        workspace_id=ctx.workspace_id,
        id=email_id,
        record_type=record_type.value,
        record_id=record_id,
        contact_id=contact.id if contact is not None else None,
        template_id=template_id,
        activity_id=activity.id,
        requested_by=ctx.actor.user_id,
        marketing=marketing,
        to_email=address,
        to_name=_name_for(contact, address),
        subject=rendered.subject,
        body_html=rendered.body_html,
        body_text=rendered.body_text,
        message_id=_message_id(email_id, settings.from_email),
        status="queued",
        attempts=0,
        next_attempt_at=utcnow(),
    )
    ctx.session.add(email)
    await ctx.session.flush()
    _announce(ctx, email)
    _nudge(ctx, email_id, f"email:{email_id}")
    return email


def _announce(ctx: Ctx, email: Email) -> None:
    """`email.queued`, `email.sent`, `email.failed`: what became of an email, for workflows
    and integrators (its activity's events say the same in the timeline's words)."""
    about = {
        "status": email.status,
        "record_type": email.record_type,
        "record_id": str(email.record_id),
        "to_email": email.to_email,
        "subject": email.subject,
        "template_id": jsonable(email.template_id),
        "marketing": email.marketing,
        "error": email.error,
    }
    emit(ctx, f"email.{email.status}", "email", email.id, about)


def _name_for(contact: Contact | None, address: str) -> str | None:
    """The contact's name (on one line: it goes into a header) when the email goes to the
    contact's own address; none for another address, whose owner may be someone else."""
    if contact is None or (contact.email or "").lower() != address.lower():
        return None
    return " ".join(contact.full_name.split())


async def _active_owner(ctx: Ctx, record: Contact | Deal) -> uuid.UUID | None:
    """Whose an email the system sends is (an automation's): the record's owner, so whoever
    sees the record sees it; nobody's when that user was deactivated."""
    owner_id = record.owner_id
    if owner_id is None:
        return None
    user = await ctx.session.get(User, (ctx.workspace_id, owner_id))
    return owner_id if user is not None and user.is_active else None


def _nudge(ctx: Ctx, email_id: uuid.UUID, job_id: str, at: datetime | None = None) -> None:
    enqueue_after_commit(
        ctx, SEND_EMAIL, str(ctx.workspace_id), str(email_id), job_id=job_id, defer_until=at
    )


_LISTED = columns_of(table_of(Email), EmailRead)


async def list_emails(ctx: Ctx, query: EmailQuery) -> Rows[Any]:
    """A page of the emails about one record the actor can see (else a 422 naming
    `record_id`), newest first by default."""
    await templates.recipient_of(ctx, query.record_type, query.record_id)
    table = table_of(Email)
    stmt = select(*_LISTED).where(
        table.c.record_type == query.record_type.value, table.c.record_id == query.record_id
    )
    if query.status:
        stmt = stmt.where(table.c.status.in_([s.value for s in query.status]))
    return await paginate(ctx, stmt, query, table=table)


async def get_email(ctx: Ctx, email_id: uuid.UUID) -> Email:
    """An email the actor may see: one about a record they can see."""
    email = await ctx.session.get(Email, (ctx.workspace_id, email_id))
    if email is None:
        raise EmailNotFound()
    try:
        await templates.recipient_of(ctx, EmailRecordType(email.record_type), email.record_id)
    except Unprocessable:
        raise EmailNotFound() from None
    return email


# What the worker asks before each send: 0 when the workspace's SMTP account may send now,
# else how many seconds until it may (app/core/ratelimit.py's `take_turn`).
Turn = Callable[[uuid.UUID, int], Awaitable[float]]


@dataclass(frozen=True)
class Attempt:
    status: str  # sent, failed, queued (tried again later), not queued
    reason: str | None = None


async def _settle(ctx: Ctx, email: Email, status: str, reason: str | None) -> Attempt:
    now = utcnow()
    email.status = status
    email.error = reason
    email.updated_at = now
    if status == "sent":
        email.sent_at = now
    if status in ("sent", "failed"):
        _announce(ctx, email)
    outcome = status if reason is None else f"{status}: {reason}"
    await activities_service.record_email_outcome(
        ctx, email.activity_id, outcome[:_OUTCOME_MAX], at=now
    )
    await ctx.session.flush()
    return Attempt(status, reason)


def _retry_delay(attempts: int) -> timedelta:
    first = get_settings().email_retry_seconds
    return timedelta(seconds=min(first * 2 ** (attempts - 1), 3600))


async def send_queued_email(ctx: Ctx, email_id: uuid.UUID, *, turn: Turn) -> Attempt:
    """Send one queued email, holding its row lock until the transaction that records the
    outcome commits. Checked again at send time: the contact's `do_not_contact` (then
    `failed` with the reason) and the workspace's send rate (over it, the send waits for a
    turn: deferred, never dropped). A server that may take it later (4xx, refused or timed-out
    connection) is tried again with backoff, SEN_EMAIL_SEND_TRIES times in all."""
    email = await ctx.session.scalar(
        select(Email)
        .where(Email.workspace_id == ctx.workspace_id, Email.id == email_id)
        .where(Email.status == "queued")
        .with_for_update(skip_locked=True)
    )
    if email is None:
        return Attempt("not queued")
    contact = None
    if email.contact_id is not None:
        contact = await ctx.session.get(Contact, (ctx.workspace_id, email.contact_id))
    if contact is not None and contact.do_not_contact:
        return await _settle(ctx, email, "failed", "the contact is marked do_not_contact")
    settings = await mail_settings.find_settings(ctx)
    if settings is None:
        return await _settle(ctx, email, "failed", "no mail server is set")
    wait = await turn(ctx.workspace_id, settings.per_minute)
    if wait > 0:
        # Its turn is its next try: the sweep leaves it alone until then.
        email.next_attempt_at = _later(wait)
        _nudge(
            ctx, email.id, f"email:{email.id}:turn:{utcnow().timestamp()}", email.next_attempt_at
        )
        await ctx.session.flush()
        return Attempt("queued", "waiting for the send rate")
    url = None
    if email.marketing and email.contact_id is not None:
        token = unsubscribe.make_token(ctx.workspace_id, email.contact_id, email.id)
        url = unsubscribe.unsubscribe_url(token)
    message = smtp.build_message(
        smtp.Outgoing(
            from_email=settings.from_email,
            from_name=settings.from_name,
            to_email=email.to_email,
            to_name=email.to_name,
            subject=email.subject,
            body_text=email.body_text,
            body_html=email.body_html,
            message_id=email.message_id,
            unsubscribe_url=url,
        )
    )
    email.attempts += 1
    try:
        await smtp.send(mail_settings.server_of(settings), message)
    except smtp.SmtpFailure as failure:
        if not failure.transient or email.attempts >= get_settings().email_send_tries:
            return await _settle(ctx, email, "failed", failure.reason)
        email.error = failure.reason
        email.next_attempt_at = utcnow() + _retry_delay(email.attempts)
        _nudge(ctx, email.id, f"email:{email.id}:try:{email.attempts}", email.next_attempt_at)
        await ctx.session.flush()
        return Attempt("queued", failure.reason)
    return await _settle(ctx, email, "sent", None)


def _later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)


async def record_crash(ctx: Ctx, email_id: uuid.UUID, error: BaseException) -> None:
    """A send that failed in a way no rule foresaw rolled back with its job: counted here, so
    an email that always crashes ends `failed` instead of being swept forever."""
    email = await ctx.session.scalar(
        select(Email)
        .where(Email.workspace_id == ctx.workspace_id, Email.id == email_id)
        .where(Email.status == "queued")
        .with_for_update(skip_locked=True)
    )
    if email is None:
        return
    email.attempts += 1
    reason = f"could not be sent ({type(error).__name__})"
    if email.attempts >= get_settings().email_send_tries:
        await _settle(ctx, email, "failed", reason)
        return
    email.error = reason
    email.next_attempt_at = utcnow() + _retry_delay(email.attempts)
    await ctx.session.flush()


async def requeue_waiting(ctx: Ctx, *, due_before: datetime) -> int:
    """The sweep's half: queued emails due before `due_before` whose nudge never came (lost
    with Redis, or its worker killed mid-send) go to the worker again. Emails being sent
    right now are locked, and skipped."""
    stuck = and_(Email.status == "queued", Email.next_attempt_at < due_before)
    return await requeue_stuck(ctx, Email, stuck, function=SEND_EMAIL, kind="email")


class UnsubscribeLinkInvalid(NotFound):
    code, title = "unsubscribe_link_invalid", "This unsubscribe link is not valid"


async def unsubscribe_contact(ctx: Ctx, contact_id: uuid.UUID) -> None:
    """The contact asked for no more email: `do_not_contact` set (in their history, by the
    system). Asking again, or for a contact deleted since, changes nothing."""
    try:
        await contacts_service.update_contact(
            ctx, contact_id, ContactUpdate(do_not_contact=True), if_match=None
        )
    except contacts_service.ContactNotFound:
        return
