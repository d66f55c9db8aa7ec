"""Lead conversion: a lead becomes a contact, an account (new or existing) and optionally a
deal, in the request's one transaction, and keeps links to what it became."""

import uuid
from dataclasses import dataclass

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.accounts.schemas import AccountCreate, AccountRead
from app.contacts import service as contacts_service
from app.contacts.models import Contact
from app.contacts.schemas import ContactCreate, ContactRead
from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, Unprocessable
from app.core.models import utcnow
from app.core.records import DuplicatePolicy
from app.deals import service as deals_service
from app.deals.models import Deal
from app.deals.schemas import DealCreate
from app.leads import statuses
from app.leads.models import Lead
from app.leads.schemas import (
    ConversionPreview,
    ConvertContact,
    ConvertLead,
    ExistingRecord,
    StatusCategory,
)
from app.leads.service import LEADS

_PREVIEW_LIMIT = 10


class LeadAlreadyConverted(Conflict):
    code, title = "lead_already_converted", "This lead was already converted"


class LeadDisqualified(Conflict):
    code, title = "lead_disqualified", "A disqualified lead can't be converted: change its status"


@dataclass(frozen=True)
class ConvertedLead:
    """What a conversion made of the lead, as this transaction holds them."""

    lead: Lead
    contact: Contact
    account: Account | None
    deal: Deal | None


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable([{"field": field, "message": message}])


async def _account(ctx: Ctx, lead: Lead, data: ConvertLead) -> Account | None:
    """The existing account named, a new one, or none (explicit null; or no company)."""
    if "account" in data.model_fields_set and data.account is None:
        return None
    if isinstance(data.account, ExistingRecord):
        return await records.referenced(
            ctx, accounts_service.ACCOUNTS, data.account.id, field="account.id"
        )
    given = data.account.model_dump(exclude_unset=True) if data.account else {}
    name = given.get("name") or lead.company_name
    if not name:
        if data.account is not None:
            raise _invalid("account.name", "the lead has no company name: give one")
        return None
    defaults = {"industry": lead.industry, "province": lead.province, "owner_id": lead.owner_id}
    # The conversion's preview offered the look-alikes; the user chose a new one.
    return await accounts_service.create_account(
        ctx,
        AccountCreate.model_validate({**defaults, **given, "name": name}),
        duplicates=DuplicatePolicy.checked,
    )


async def _contact(ctx: Ctx, lead: Lead, data: ConvertLead, account: Account | None) -> Contact:
    """The existing contact named (linked to the account too), or a new one made from the
    lead, linked to the account as its primary one."""
    if isinstance(data.contact, ExistingRecord):
        contact = await records.referenced(
            ctx, contacts_service.CONTACTS, data.contact.id, field="contact.id"
        )
        if account is not None:
            return await contacts_service.ensure_linked(ctx, contact.id, account.id)
        return contact
    given = (
        data.contact.model_dump(exclude_unset=True)
        if isinstance(data.contact, ConvertContact)
        else {}
    )
    if "account_id" in given or "account_role" in given:
        raise _invalid("contact.account_id", "the contact is linked to `account`")
    defaults = {
        "full_name": lead.full_name, "email": lead.email, "phone": lead.phone,
        "title": lead.title, "province": lead.province, "owner_id": lead.owner_id,
        "tags": list(lead.tags),
    }  # fmt: skip
    if account is not None:
        defaults["account_id"] = account.id
    return await contacts_service.create_contact(
        ctx, ContactCreate.model_validate({**defaults, **given}), duplicates=DuplicatePolicy.checked
    )


async def _deal(
    ctx: Ctx, lead: Lead, data: ConvertLead, account: Account | None, contact: Contact
) -> Deal | None:
    if data.deal is None:
        return None
    given = data.deal.model_dump(exclude_unset=True)
    values = {
        "name": given.pop("name", None) or lead.company_name or lead.full_name,
        "account_id": account.id if account is not None else None,
        "contact_id": contact.id,
        "owner_id": lead.owner_id,
        **given,
    }
    return await deals_service.create_deal(
        ctx, DealCreate.model_validate(values), source_lead_id=lead.id
    )


async def convert_lead(ctx: Ctx, lead_id: uuid.UUID, data: ConvertLead) -> ConvertedLead:
    """Turn a lead into a contact, an account (new or existing) and optionally a deal, all or
    nothing; the lead becomes `converted` and read-only, and remembers what it became."""
    # The row lock makes racing conversions queue: the first converts, the others see it.
    lead = await records.get(ctx, LEADS, lead_id, for_update=True)
    if lead.converted_at is not None:
        raise LeadAlreadyConverted()
    category = (await statuses.status_by_key(ctx, lead.status)).category
    if category == StatusCategory.disqualified:
        raise LeadDisqualified()
    account = await _account(ctx, lead, data)
    contact = await _contact(ctx, lead, data, account)
    deal = await _deal(ctx, lead, data, account, contact)
    converted = {
        "status": await statuses.converted_key(ctx),
        "converted_account_id": account.id if account is not None else None,
        "converted_contact_id": contact.id,
        "converted_deal_id": deal.id if deal is not None else None,
        "converted_at": utcnow(),
    }
    await records.update_record(ctx, LEADS, lead, converted, action="converted")
    return ConvertedLead(lead=lead, contact=contact, account=account, deal=deal)


async def preview_conversion(
    ctx: Ctx, lead_id: uuid.UUID, *, tax_code: str | None = None
) -> ConversionPreview:
    """Existing accounts and contacts the actor can see that look like the lead: the same
    email or phone (accounts also the company name, or the tax code given)."""
    lead = await records.get(ctx, LEADS, lead_id)
    accounts = await accounts_service.accounts_like(
        ctx, email=lead.email, phone_e164=lead.phone_e164, name=lead.company_name,
        tax_code=tax_code, limit=_PREVIEW_LIMIT,
    )  # fmt: skip
    contacts = await contacts_service.contacts_like(
        ctx, email=lead.email, phone_e164=lead.phone_e164, limit=_PREVIEW_LIMIT
    )
    return ConversionPreview(
        accounts=[AccountRead.model_validate(dict(row)) for row in accounts],
        contacts=[ContactRead.model_validate(contact) for contact in contacts],
    )
