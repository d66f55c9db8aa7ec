"""Leads: the business rules, and the only place that writes them."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from app.campaigns import service as campaigns_service
from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound
from app.core.pagination import FilterOn, equals, has_all, one_of
from app.core.records import DuplicatePolicy, Patched, Resource
from app.core.repoint import repoint
from app.custom_fields import service as custom_fields
from app.duplicates import service as duplicates_service
from app.leads import statuses
from app.leads.models import Lead, LeadStatus
from app.leads.schemas import LeadCreate, LeadQuery, LeadRead, LeadUpdate
from app.users import service as users_service


class LeadNotFound(NotFound):
    code, title = "lead_not_found", "Lead not found"


class LeadConverted(Conflict):
    code, title = "lead_converted", "A converted lead is read-only"


def _in_status_category(on: FilterOn, category: str) -> Any:
    return on.columns.status.in_(
        select(LeadStatus.key).where(
            LeadStatus.workspace_id == on.workspace_id, LeadStatus.category == category
        )
    )


_HISTORY = (
    "full_name", "company_name", "title", "email", "phone", "status", "source", "qualification",
    "score", "industry", "province", "owner_id", "tags", "utm_source", "utm_medium",
    "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid", "campaign_id", "form_id",
    "custom_fields", "notes",
)  # fmt: skip
LEADS = Resource(
    model=Lead,
    name="lead",
    read=LeadRead,
    query=LeadQuery,
    not_found=LeadNotFound,
    filters={
        "status": one_of("status"),
        "status_category": _in_status_category,
        "source": one_of("source"),
        "owner_id": equals("owner_id"),
        "qualification": equals("qualification"),
        "tag": has_all("tags"),
        "campaign_id": equals("campaign_id"),
        "form_id": equals("form_id"),
    },
    searched=("full_name", "company_name", "email", "phone", "phone_e164"),
    history=_HISTORY,
    owner_check=users_service.check_assignable_owner,
    custom_fields=custom_fields.validate_values,
    duplicates=duplicates_service.refuse_duplicates,
)


async def create_lead(
    ctx: Ctx, data: LeadCreate, *, duplicates: DuplicatePolicy = DuplicatePolicy.ask
) -> Lead:
    """Owner defaults to the creator; status to `new`; phone is normalised to E.164. The
    campaign is one of the workspace's (422), else the one whose key is `utm_campaign`. The
    workspace's duplicate rules apply (409)."""
    return await records.create(ctx, LEADS, await lead_values(ctx, data), duplicates=duplicates)


async def lead_values(ctx: Ctx, data: LeadCreate) -> dict[str, Any]:
    """A new lead's values after the lead's own rules (`create_lead`'s), for the resource
    layer to create (`records.create`, or `records.prepare` and `create_many` for a batch)."""
    values: dict[str, Any] = data.model_dump()
    values["status"] = (await statuses.status_for_assignment(ctx, data.status)).key
    if data.campaign_id is not None:
        await records.referenced(
            ctx, campaigns_service.CAMPAIGNS, data.campaign_id, field="campaign_id"
        )
    else:
        values["campaign_id"] = await campaigns_service.campaign_for_utm(ctx, data.utm_campaign)
    return values


async def create_lead_from_submission(
    ctx: Ctx, data: LeadCreate, *, submission_id: uuid.UUID, form_id: uuid.UUID | None
) -> Lead:
    """A lead made by intake, as `create_lead` makes one, remembering the submission and form
    it came from: a submission makes at most one lead (a unique key, however often its job
    runs). Intake matched it against the duplicate rules already."""
    values: dict[str, Any] = data.model_dump()
    values["status"] = (await statuses.status_for_assignment(ctx, data.status)).key
    values["submission_id"] = submission_id
    values["form_id"] = form_id
    return await records.create(ctx, LEADS, values, duplicates=DuplicatePolicy.checked)


async def update_lead(
    ctx: Ctx,
    lead_id: uuid.UUID,
    data: LeadUpdate,
    *,
    if_match: str | None,
    duplicates: DuplicatePolicy = DuplicatePolicy.ask,
) -> Patched[Lead]:
    """Applies only the fields sent; a stale If-Match is a 412; a converted lead is read-only."""

    async def rules(lead: Lead, values: dict[str, Any]) -> dict[str, Any]:
        if lead.converted_at is not None:
            raise LeadConverted("It lives on as the contact, account and deal it became")
        if "status" in values and values["status"] != lead.status:
            values["status"] = (await statuses.status_for_assignment(ctx, values["status"])).key
        campaign_id = values.get("campaign_id")
        if campaign_id is not None and campaign_id != lead.campaign_id:
            await records.referenced(
                ctx, campaigns_service.CAMPAIGNS, campaign_id, field="campaign_id"
            )
        return values

    values = data.model_dump(exclude_unset=True)
    return await records.patch(
        ctx, LEADS, lead_id, values, if_match=if_match, rules=rules, duplicates=duplicates
    )


_CONVERTED_INTO = {
    "contact": Lead.converted_contact_id,
    "account": Lead.converted_account_id,
    "deal": Lead.converted_deal_id,
}


async def leads_converted_into(ctx: Ctx, resource: str, record_id: uuid.UUID) -> list[uuid.UUID]:
    """The leads converted into this contact, account or deal (none for other records)."""
    column = _CONVERTED_INTO.get(resource)
    if column is None:
        return []
    found = await ctx.session.scalars(
        select(Lead.id).where(Lead.workspace_id == ctx.workspace_id, column == record_id)
    )
    return list(found)


async def move_conversion_links(
    ctx: Ctx, resource: str, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID
) -> list[uuid.UUID]:
    """Leads converted into any of the contacts or accounts (`resource`) `from_ids` remember
    `to_id` as what they became from now on (a merge's part), each in the lead's history."""
    field = {"contact": "converted_contact_id", "account": "converted_account_id"}[resource]
    return await repoint(ctx, LEADS, field, from_ids, to_id)
