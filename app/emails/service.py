"""Email templates (the business rules, and the only place that writes them), what a template
sees of a record, and a preview of one rendered for a real record."""

import uuid
from dataclasses import dataclass
from typing import Any

from app.contacts import service as contacts_service
from app.contacts.models import Contact
from app.core import records
from app.core.context import Ctx
from app.core.errors import NotFound, Unprocessable
from app.core.ids import new_id
from app.core.records import Patched, Resource
from app.deals import service as deals_service
from app.deals.models import Deal
from app.emails import rendering
from app.emails.models import EmailTemplate
from app.emails.schemas import (
    EmailRecordType,
    EmailTemplateCreate,
    EmailTemplateQuery,
    EmailTemplateRead,
    EmailTemplateUpdate,
    Preview,
)
from app.users.models import User


class EmailTemplateNotFound(NotFound):
    code, title = "email_template_not_found", "Email template not found"


class TemplateInvalid(Unprocessable):
    code, title = "template_invalid", "The template has an error"


class TemplateRenderFailed(Unprocessable):
    code, title = "template_render_failed", "The template cannot be rendered for this record"


EMAIL_TEMPLATES = Resource(
    model=EmailTemplate,
    name="email_template",
    read=EmailTemplateRead,
    query=EmailTemplateQuery,
    not_found=EmailTemplateNotFound,
    history=("name", "subject", "body_html", "body_text"),
)
_PARTS = ("subject", "body_html", "body_text")
SUBJECT_MAX = 500  # what an email's subject column holds


def check_parts(parts: dict[str, str]) -> None:
    """A 422 `template_invalid` naming each part's errors (syntax, unknown variable, field or
    filter, with the line)."""
    found = rendering.check_template(parts)
    if found:
        raise TemplateInvalid([{"field": p.field, "message": p.message} for p in found])


async def create_template(ctx: Ctx, data: EmailTemplateCreate) -> EmailTemplate:
    values = data.model_dump()
    check_parts({part: values[part] for part in _PARTS})
    return await records.create(ctx, EMAIL_TEMPLATES, values)


async def update_template(
    ctx: Ctx, template_id: uuid.UUID, data: EmailTemplateUpdate, *, if_match: str | None
) -> Patched[EmailTemplate]:
    values = data.model_dump(exclude_unset=True)
    check_parts({part: values[part] for part in _PARTS if part in values})
    return await records.patch(ctx, EMAIL_TEMPLATES, template_id, values, if_match=if_match)


@dataclass(frozen=True)
class Recipient:
    """The record an email is about, and who it goes to: a contact, or a deal's contact."""

    record: Contact | Deal
    contact: Contact | None
    deal: Deal | None


async def recipient_of(
    ctx: Ctx, record_type: EmailRecordType, record_id: uuid.UUID, *, field: str = "record_id"
) -> Recipient:
    """The record (one the actor can see, else a 422 naming `field`) and its contact; a deal
    whose contact is gone has none."""
    if record_type is EmailRecordType.contact:
        person = await records.referenced(ctx, contacts_service.CONTACTS, record_id, field=field)
        return Recipient(record=person, contact=person, deal=None)
    deal = await records.referenced(ctx, deals_service.DEALS, record_id, field=field)
    contact: Contact | None = None
    if deal.contact_id is not None:
        contact = await records.find_visible(ctx, Contact, deal.contact_id, any_owner=True)
    return Recipient(record=deal, contact=contact, deal=deal)


def _fields(obj: Any, names: frozenset[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


async def variables_for(
    ctx: Ctx, recipient: Recipient, *, unsubscribe_url: str | None
) -> dict[str, Any]:
    """What a template sees of the record: its contact, its deal, its owner."""
    owner = None
    owner_id = getattr(recipient.record, "owner_id", None)
    if owner_id is not None:
        user = await ctx.session.get(User, (ctx.workspace_id, owner_id))
        if user is not None:
            owner = {"full_name": user.full_name, "email": user.email}
    contact, deal = recipient.contact, recipient.deal
    return rendering.record_variables(
        contact=None if contact is None else _fields(contact, rendering.CONTACT_FIELDS),
        deal=None if deal is None else _fields(deal, rendering.DEAL_FIELDS),
        owner=owner,
        unsubscribe_url=unsubscribe_url,
    )


def render_parts(parts: dict[str, str], variables: dict[str, Any]) -> rendering.Rendered:
    """The parts rendered, or a 422 `template_render_failed` naming the part and why (a
    `deal` variable in an email about a contact, say)."""
    try:
        rendered = rendering.render(
            parts["subject"], parts["body_html"], parts["body_text"], variables
        )
    except rendering.RenderFailed as error:
        raise TemplateRenderFailed([{"field": error.field, "message": error.message}]) from None
    if not rendered.subject:
        raise TemplateRenderFailed([{"field": "subject", "message": "renders empty"}])
    if len(rendered.subject) > SUBJECT_MAX:
        message = f"renders longer than {SUBJECT_MAX} characters"
        raise TemplateRenderFailed([{"field": "subject", "message": message}])
    return rendered


def parts_of(template: EmailTemplate) -> dict[str, str]:
    return {part: getattr(template, part) for part in _PARTS}


PREVIEW_UNSUBSCRIBE_URL = "https://example.invalid/u/preview"


async def preview_template(
    ctx: Ctx, template_id: uuid.UUID, record_type: EmailRecordType, record_id: uuid.UUID
) -> Preview:
    template = await records.get(ctx, EMAIL_TEMPLATES, template_id)
    recipient = await recipient_of(ctx, record_type, record_id)
    variables = await variables_for(ctx, recipient, unsubscribe_url=PREVIEW_UNSUBSCRIBE_URL)
    rendered = render_parts(parts_of(template), variables)
    to = recipient.contact.email if recipient.contact is not None else None
    return Preview(
        subject=rendered.subject, body_html=rendered.body_html, body_text=rendered.body_text, to=to
    )


def seed_template(
    ctx: Ctx, *, name: str, subject: str, body_html: str, body_text: str
) -> uuid.UUID:
    """A template a new workspace starts with (checked by `check_parts`, as a saved one is);
    the caller commits. Its id, for the examples that use it."""
    check_parts({"subject": subject, "body_html": body_html, "body_text": body_text})
    template_id = new_id()
    ctx.session.add(
        EmailTemplate(
            workspace_id=ctx.workspace_id, id=template_id, name=name, subject=subject,
            body_html=body_html, body_text=body_text,
        )
    )  # fmt: skip
    return template_id
