"""Leads: the business rules, and the only place that writes them."""

import uuid
from types import SimpleNamespace
from typing import Any

from asyncpg import Record
from sqlalchemy import select

from app.core.concurrency import check_if_match
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound
from app.core.history import History, HistoryQuery, apply_changes, history_of, insert_with_history
from app.core.pagination import (
    Rows,
    apply_filters,
    at_least,
    before,
    columns_of,
    equals,
    has_all,
    one_of,
    paginate,
)
from app.core.records import get_visible, restore, restrict_to_visible, soft_delete
from app.core.search import derived_columns
from app.custom_fields import service as custom_fields
from app.leads import statuses
from app.leads.models import Lead, LeadStatus
from app.leads.schemas import LeadCreate, LeadQuery, LeadRead, LeadUpdate
from app.users import service as users_service

RESOURCE = "lead"
# Lists are built from the table's columns (not ORM attributes): the same SQL, with less
# expression machinery on every request.
_LEADS = Lead.__table__.c
_LISTED = columns_of(Lead.__table__, LeadRead)
SORTS = {
    "created_at": _LEADS.created_at,
    "updated_at": _LEADS.updated_at,
    "full_name": _LEADS.full_name,
    "score": _LEADS.score,
}
FILTERS = {
    "status": one_of(_LEADS.status),
    "status_category": lambda category: _LEADS.status.in_(
        select(LeadStatus.key).where(LeadStatus.category == category)
    ),
    "source": one_of(_LEADS.source),
    "owner_id": equals(_LEADS.owner_id),
    "qualification": equals(_LEADS.qualification),
    "tag": has_all(_LEADS.tags),
    "created_after": at_least(_LEADS.created_at),
    "created_before": before(_LEADS.created_at),
}
_SEARCHED = ("full_name", "company_name", "email", "phone", "phone_e164")
_HISTORY_FIELDS = [
    "full_name", "company_name", "title", "email", "phone", "status", "source", "qualification",
    "score", "industry", "province", "owner_id", "tags", "utm_source", "utm_medium",
    "utm_campaign", "utm_term", "utm_content", "custom_fields", "notes",
]  # fmt: skip


class LeadNotFound(NotFound):
    code, title = "lead_not_found", "Lead not found"


class LeadConverted(Conflict):
    code, title = "lead_converted", "A converted lead is read-only"


async def list_leads(ctx: Ctx, query: LeadQuery) -> Rows[Record]:
    """Leads visible to the actor, filtered, sorted and paginated by cursor."""
    stmt = restrict_to_visible(select(*_LISTED), Lead, ctx.actor)
    stmt = apply_filters(stmt, query, FILTERS)
    return await paginate(
        ctx, stmt, query, model=Lead, sorts=SORTS, search_column=_LEADS.search_text
    )


async def get_lead(
    ctx: Ctx, lead_id: uuid.UUID, *, include_deleted: bool = False, for_update: bool = False
) -> Lead:
    """A visible lead; another workspace's or an invisible one is a 404. `for_update` locks
    the row, so writers queue and each checks If-Match against the version it will change."""
    return await get_visible(
        ctx,
        Lead,
        lead_id,
        not_found=LeadNotFound,
        include_deleted=include_deleted,
        for_update=for_update,
    )


async def create_lead(ctx: Ctx, data: LeadCreate) -> SimpleNamespace:
    """Owner defaults to the creator; status to `new`; phone is normalised to E.164."""
    values: dict[str, Any] = data.model_dump()
    values["status"] = (await statuses.status_for_assignment(ctx, data.status)).key
    values["owner_id"] = data.owner_id or ctx.actor.user_id
    await users_service.check_assignable_owner(ctx, values["owner_id"])
    values["custom_fields"] = await custom_fields.validate_values(ctx, RESOURCE, data.custom_fields)
    values.update(derived_columns(values, _SEARCHED))
    return await insert_with_history(ctx, Lead, values, resource=RESOURCE, fields=_HISTORY_FIELDS)


async def update_lead(
    ctx: Ctx, lead_id: uuid.UUID, data: LeadUpdate, *, if_match: str | None
) -> Lead:
    """Applies only the fields sent; a stale If-Match is a 412."""
    lead = await get_lead(ctx, lead_id, for_update=True)
    check_if_match(lead.version, if_match)
    if lead.converted_at is not None:
        raise LeadConverted("It lives on as the contact, account and deal it became")
    values = data.model_dump(exclude_unset=True)
    if "status" in values and values["status"] != lead.status:
        values["status"] = (await statuses.status_for_assignment(ctx, values["status"])).key
    if values.get("owner_id") != lead.owner_id:
        await users_service.check_assignable_owner(ctx, values.get("owner_id"))
    if "custom_fields" in values:
        values["custom_fields"] = await custom_fields.validate_values(
            ctx, RESOURCE, values["custom_fields"], existing=lead.custom_fields
        )
    if apply_changes(ctx, RESOURCE, lead, values):
        for name, value in derived_columns(lead, _SEARCHED).items():
            setattr(lead, name, value)
        await ctx.session.flush()
    return lead


async def delete_lead(ctx: Ctx, lead_id: uuid.UUID, *, if_match: str | None) -> None:
    """Soft delete: hidden from lists, kept with its history, restorable."""
    lead = await get_lead(ctx, lead_id, for_update=True)
    soft_delete(ctx, RESOURCE, lead, if_match=if_match)
    await ctx.session.flush()


async def restore_lead(ctx: Ctx, lead_id: uuid.UUID) -> Lead:
    lead = await get_lead(ctx, lead_id, include_deleted=True, for_update=True)
    restore(ctx, RESOURCE, lead)
    await ctx.session.flush()
    return lead


async def lead_history(ctx: Ctx, lead_id: uuid.UUID, query: HistoryQuery) -> History:
    lead = await get_lead(ctx, lead_id, include_deleted=True)
    return await history_of(ctx, RESOURCE, lead.id, query)
