import html
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.responses import HTMLResponse

from app.auth.api_keys import ApiKeyNotAllowed
from app.auth.dependencies import Admin, Member
from app.core import records
from app.core.concurrency import IfMatch
from app.core.db import acting_for_the_public
from app.core.errors import (
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    Forbidden,
    RateLimited,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.ratelimit import client_ip
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute
from app.emails import mail_settings, sending, service, unsubscribe
from app.emails.schemas import (
    EmailQueryParams,
    EmailRead,
    EmailSend,
    EmailTemplateCreate,
    EmailTemplateQueryParams,
    EmailTemplateRead,
    EmailTemplateUpdate,
    MailSettingsRead,
    MailSettingsWrite,
    Preview,
    PreviewRequest,
)
from app.emails.service import EMAIL_TEMPLATES

templates_router = APIRouter(
    prefix="/email-templates", tags=["email-templates"], route_class=CommittingRoute
)
mail_settings_router = APIRouter(
    prefix="/mail-settings", tags=["mail-settings"], route_class=CommittingRoute
)
router = APIRouter(prefix="/emails", tags=["emails"], route_class=CommittingRoute)
unsubscribe_router = APIRouter(tags=["emails"], route_class=CommittingRoute)

TemplateID = Annotated[uuid.UUID, Path(description="The email template's id.")]
EmailID = Annotated[uuid.UUID, Path(description="The email's id.")]
UNSUBSCRIBES_PER_MINUTE = 30


@templates_router.get(
    "",
    summary="List email templates",
    response_model=Page[EmailTemplateRead],
    responses=problems(*READ_ERRORS),
)
async def list_email_templates(ctx: Member, query: EmailTemplateQueryParams) -> Response:
    """The workspace's email templates, newest first by default."""
    return (await records.list_page(ctx, EMAIL_TEMPLATES, query)).response(EmailTemplateRead)


@templates_router.post(
    "",
    summary="Create an email template",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden, service.TemplateInvalid),
)
async def create_email_template(
    body: EmailTemplateCreate, ctx: Admin, _: Idempotent, response: Response
) -> EmailTemplateRead:
    """Owners and admins. Subject and bodies are Jinja2 (`{{ contact.full_name }}`,
    `{{ deal.amount | vnd }}`, `{{ owner.full_name }}`), rendered in a sandbox that reaches
    only the record's fields and its owner's name and email. A syntax error, or a variable,
    field or filter no template has, is a 422 `template_invalid` naming the part and line."""
    template = await service.create_template(ctx, body)
    return await records.read_with_etag(ctx, EMAIL_TEMPLATES, template, response)


add_record_routes(
    templates_router,
    EMAIL_TEMPLATES,
    caller=Member,
    writer=Admin,
    id_name="template_id",
    notes={
        "delete": "Owners and admins only. Emails already sent from it keep their content.",
        "restore": "Owners and admins only.",
    },
)


@templates_router.patch(
    "/{template_id}",
    summary="Update an email template",
    responses=problems(
        *UPDATE_ERRORS, Forbidden, service.EmailTemplateNotFound, service.TemplateInvalid
    ),
)
async def update_email_template(
    template_id: TemplateID,
    body: EmailTemplateUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> EmailTemplateRead:
    """Owners and admins; only the fields sent change, each checked as on create (422
    `template_invalid`). Send `If-Match` to refuse a lost update (412)."""
    patched = await service.update_template(ctx, template_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, EMAIL_TEMPLATES, patched.record, response)


@templates_router.post(
    "/{template_id}/preview",
    summary="Render an email template for a record",
    responses=problems(*READ_ERRORS, service.EmailTemplateNotFound, service.TemplateRenderFailed),
)
async def preview_email_template(
    template_id: TemplateID, body: PreviewRequest, ctx: Member
) -> Preview:
    """The subject and bodies as they would be sent about this contact or deal (one you can
    see, else a 422 naming `record_id`); nothing is sent or stored. A template that needs
    what the record has not (a `deal` in an email about a contact) is a 422
    `template_render_failed` naming the part."""
    return await service.preview_template(ctx, template_id, body.record_type, body.record_id)


@mail_settings_router.get(
    "",
    summary="Get the mail server settings",
    responses=problems(*READ_ERRORS, Forbidden, mail_settings.MailSettingsNotFound),
)
async def get_mail_settings(ctx: Admin) -> MailSettingsRead:
    """Owners and admins. The workspace's SMTP server as set, without the password
    (`password_set` says whether one is stored), and the last check's outcome."""
    return mail_settings.read(await mail_settings.get_settings(ctx))


@mail_settings_router.put(
    "",
    summary="Set the mail server",
    responses=problems(*WRITE_ERRORS, Forbidden, ApiKeyNotAllowed),
)
async def put_mail_settings(body: MailSettingsWrite, ctx: Admin) -> MailSettingsRead:
    """Owners and admins. The SMTP server emails leave from: `security` is `none` (plain),
    `starttls` (upgraded, required) or `tls` (TLS from the first byte, usually port 465).
    `password` is write-only; leave it out to keep the stored one (an API key can't send
    one: 403 `api_key_not_allowed`). `per_minute` caps the workspace's sends (over it, emails
    wait their turn). Check it with `POST …/test`."""
    return mail_settings.read(await mail_settings.put_settings(ctx, body))


@mail_settings_router.post(
    "/test",
    summary="Check the mail server",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(*WRITE_ERRORS, Forbidden, mail_settings.MailNotConfigured),
)
async def check_mail_settings(ctx: Admin, _: Idempotent) -> MailSettingsRead:
    """Owners and admins. A worker connects to the server, switches to TLS as set and signs
    in, sending nothing; the request never waits on SMTP. The answer says `check_status:
    checking`: poll `GET /mail-settings` until it is `ok` or `failed` (with `check_error`)."""
    return mail_settings.read(await mail_settings.request_check(ctx))


@router.post(
    "",
    summary="Send an email about a record",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(
        *WRITE_ERRORS,
        mail_settings.MailNotConfigured,
        sending.RecipientDoNotContact,
        sending.RecipientMissing,
        sending.EmailContentInvalid,
        service.TemplateInvalid,
        service.TemplateRenderFailed,
    ),
)
async def send_email(body: EmailSend, ctx: Member, _: Idempotent) -> EmailRead:
    """Queue one email to a contact (or a deal's contact) you can see, from a template or
    written here (Jinja2 variables work in both); a worker sends it. It shows at once on the
    record's timeline as an `email` activity whose `outcome` follows it (`queued`, `sent`,
    `failed: <reason>`); poll `GET /emails/{id}` for `status`. A contact marked
    `do_not_contact` is a 409 `do_not_contact` (and is checked again when it is sent); no mail
    server a 409 `mail_not_configured`; no address a 422 `recipient_missing`."""
    email = await sending.queue_email(
        ctx,
        body.record_type,
        body.record_id,
        template_id=body.template_id,
        subject=body.subject,
        body_html=body.body_html,
        body_text=body.body_text,
        to=body.to,
        marketing=body.marketing,
    )
    return EmailRead.model_validate(email)


@router.get(
    "",
    summary="List a record's emails",
    response_model=Page[EmailRead],
    responses=problems(*READ_ERRORS),
)
async def list_emails(ctx: Member, query: EmailQueryParams) -> Response:
    """The emails about one contact or deal you can see (else a 422 naming `record_id`),
    newest first, each with its `status`; filter by `status`."""
    return (await sending.list_emails(ctx, query)).response(EmailRead)


@router.get(
    "/{email_id}",
    summary="Get an email",
    responses=problems(*READ_ERRORS, sending.EmailNotFound),
)
async def get_email(email_id: EmailID, ctx: Member) -> EmailRead:
    """Its `status` (`queued`, `sent`, `failed`), `error` (why it failed, or why its last
    try did), tries and `Message-ID`. Seen by whoever sees the record it is about."""
    return EmailRead.model_validate(await sending.get_email(ctx, email_id))


_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1 style="font-size:1.3rem">{title}</h1>{body}</body></html>"""

_HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
UnsubscribeToken = Annotated[
    str, Path(max_length=200, description="The token from the email's unsubscribe link.")
]
_PAGE_RESPONSES = {
    200: {"description": "A small page (Vietnamese, English)", "content": {"text/html": {}}},
    **problems(sending.UnsubscribeLinkInvalid, RateLimited),
}


async def _unsubscribing(request: Request, token: str) -> unsubscribe.Unsubscribe:
    limiter = request.app.state.rate_limiter
    await limiter.limit("unsubscribe", UNSUBSCRIBES_PER_MINUTE, 60, client_ip(request))
    found = unsubscribe.read_token(token)
    if found is None:
        raise sending.UnsubscribeLinkInvalid()
    return found


@unsubscribe_router.get(
    f"{unsubscribe.UNSUBSCRIBE_PATH}{{token}}",
    summary="An unsubscribe link's page (public)",
    response_class=HTMLResponse,
    responses=_PAGE_RESPONSES,
)
async def unsubscribe_page(token: UnsubscribeToken, request: Request) -> HTMLResponse:
    """What a marketing email's link opens: a button that confirms (a POST). Opening the link
    changes nothing, so mail scanners that follow links unsubscribe no one. No token needed."""
    await _unsubscribing(request, token)
    action = html.escape(f"{unsubscribe.UNSUBSCRIBE_PATH}{token}")
    body = (
        "<p>Bạn sẽ không nhận email từ chúng tôi nữa.<br>You will get no more email from us.</p>"
        f'<form method="post" action="{action}">'
        '<button type="submit">Hủy đăng ký / Unsubscribe</button></form>'
    )
    page = _PAGE.format(title="Hủy đăng ký / Unsubscribe", body=body)
    return HTMLResponse(page, headers=_HTML_HEADERS)


@unsubscribe_router.post(
    f"{unsubscribe.UNSUBSCRIBE_PATH}{{token}}",
    summary="Unsubscribe (public)",
    response_class=HTMLResponse,
    responses=_PAGE_RESPONSES,
)
async def unsubscribe_contact(token: UnsubscribeToken, request: Request) -> HTMLResponse:
    """Marks the contact `do_not_contact`: the page's button, and mail clients' one-click
    `List-Unsubscribe-Post` (RFC 8058; its body is ignored). Doing it again changes nothing."""
    found = await _unsubscribing(request, token)
    ctx = await acting_for_the_public(request.state.session, found.workspace_id)
    await sending.unsubscribe_contact(ctx, found.contact_id)
    body = "<p>Bạn đã hủy đăng ký.<br>You have been unsubscribed.</p>"
    page = _PAGE.format(title="Đã hủy đăng ký / Unsubscribed", body=body)
    return HTMLResponse(page, headers=_HTML_HEADERS)
