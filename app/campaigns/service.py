"""Marketing campaigns: the business rules, the only place that writes them, what they brought
in (`campaign_stats`), and how a lead finds its campaign by `utm_campaign`."""

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from app.campaigns.models import Campaign
from app.campaigns.schemas import (
    KEY_PATTERN,
    CampaignCreate,
    CampaignQuery,
    CampaignRead,
    CampaignStats,
    CampaignUpdate,
    WonAmount,
)
from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.models import table_of
from app.core.money import in_currency, minor_units
from app.core.pagination import one_of
from app.core.records import Patched, Resource
from app.core.tenancy import Workspace
from app.core.workspace_settings import cached
from app.deals.models import Deal
from app.deals.schemas import DealStatus
from app.leads.models import Lead


class CampaignNotFound(NotFound):
    code, title = "campaign_not_found", "Campaign not found"


class CampaignKeyTaken(Conflict):
    code, title = "campaign_key_taken", "Another campaign has this key"


_HISTORY = ("name", "key", "channel", "budget", "currency", "starts_on", "ends_on", "status")
CAMPAIGNS = Resource(
    model=Campaign,
    name="campaign",
    read=CampaignRead,
    query=CampaignQuery,
    not_found=CampaignNotFound,
    filters={"status": one_of("status"), "channel": one_of("channel")},
    searched=("name", "key"),
    history=_HISTORY,
)

_KEY = re.compile(KEY_PATTERN)


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable([{"field": field, "message": message}])


async def campaign_for_utm(ctx: Ctx, utm_campaign: str | None) -> uuid.UUID | None:
    """The live campaign whose `key` is `utm_campaign`, or None: how a lead arriving with UTM
    parameters finds its campaign. Compared in lower case (keys are), so `Tet-2027` typed
    into an ad's URL still finds `tet-2027`."""
    if not utm_campaign:
        return None
    key = utm_campaign.strip().lower()
    if not _KEY.fullmatch(key):
        return None  # no campaign can have it: spare the query
    table = CAMPAIGNS.table
    found = await records.fetch(
        ctx,
        select(table.c.id).where(
            table.c.workspace_id == ctx.workspace_id,
            table.c.key == key,
            table.c.deleted_at.is_(None),
        ),
    )
    return found[0]["id"] if found else None


async def _workspace_currency(ctx: Ctx) -> str:
    async def load() -> str:
        workspace = await ctx.session.get(Workspace, ctx.workspace_id)
        return workspace.default_currency if workspace else "VND"

    return await cached(ctx, "default_currency", load)


def _budget(budget: Decimal | None, currency: str, *, field: str) -> Decimal | None:
    """The budget written in its currency's minor units (a VND budget has no đồng fractions)."""
    if budget is None:
        return None
    try:
        return in_currency(budget, currency)
    except ValueError as error:
        raise _invalid(field, str(error))


def _check_dates(starts_on: date | None, ends_on: date | None, *, field: str) -> None:
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise _invalid(field, f"ends on {ends_on} before it starts on {starts_on}")


@asynccontextmanager
async def _key_kept_unique(ctx: Ctx, key: str) -> AsyncIterator[None]:
    """Write in a savepoint: the key of another campaign (deleted ones too, so a restore never
    collides), even one added at the same moment, is a 409 naming the key."""
    try:
        async with ctx.session.begin_nested():
            yield
    except IntegrityError:
        raise CampaignKeyTaken(f"`{key}` is another campaign's key") from None


async def create_campaign(ctx: Ctx, data: CampaignCreate) -> Campaign:
    """Currency defaults to the workspace's; the budget must fit its minor units and `ends_on`
    may not come before `starts_on` (422); a key another campaign has is a 409."""
    values: dict[str, Any] = data.model_dump()
    values["currency"] = data.currency or await _workspace_currency(ctx)
    values["budget"] = _budget(data.budget, values["currency"], field="budget")
    _check_dates(data.starts_on, data.ends_on, field="ends_on")
    async with _key_kept_unique(ctx, data.key):
        return await records.create(ctx, CAMPAIGNS, values)


async def update_campaign(
    ctx: Ctx, campaign_id: uuid.UUID, data: CampaignUpdate, *, if_match: str | None
) -> Patched[Campaign]:
    """Applies only the fields sent, by the rules of `create_campaign` applied to the result:
    a new currency must fit the budget kept, new dates the date kept."""

    async def rules(campaign: Campaign, values: dict[str, Any]) -> dict[str, Any]:
        currency = values.get("currency", campaign.currency)
        if "budget" in values or "currency" in values:
            field = "budget" if "budget" in values else "currency"
            budget = _budget(values.get("budget", campaign.budget), currency, field=field)
            if "budget" in values:
                values["budget"] = budget
        _check_dates(
            values.get("starts_on", campaign.starts_on),
            values.get("ends_on", campaign.ends_on),
            field="ends_on" if "ends_on" in values else "starts_on",
        )
        return values

    values = data.model_dump(exclude_unset=True)
    guard = _key_kept_unique(ctx, values["key"]) if "key" in values else nullcontext()
    async with guard:
        return await records.patch(
            ctx, CAMPAIGNS, campaign_id, values, if_match=if_match, rules=rules
        )


def _cost_per_lead(budget: Decimal | None, leads: int, currency: str) -> Decimal | None:
    if budget is None or leads == 0:
        return None
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return (budget / leads).quantize(exponent, rounding=ROUND_HALF_UP)


async def campaign_stats(ctx: Ctx, campaign_id: uuid.UUID) -> CampaignStats:
    """Counted over every live lead of the workspace linked to the campaign (not only those
    the actor sees): how many, how many converted, and the won deals their conversions made,
    with their amounts per currency. Both statements walk `ix_leads_campaign`; each deal is
    read by one index look-up from its lead (its key, or its reference back to the lead)."""
    campaign = await records.get(ctx, CAMPAIGNS, campaign_id)
    leads, deals = table_of(Lead), table_of(Deal)
    linked = (
        leads.c.workspace_id == ctx.workspace_id,
        leads.c.campaign_id == campaign.id,
        leads.c.deleted_at.is_(None),
    )
    counted = select(func.count(), func.count(leads.c.converted_at)).where(*linked)
    lead_count, converted = (await records.read_rows(ctx, counted))[0]
    # A deal's `source_lead_id` is set by the conversion that also sets the lead's
    # `converted_deal_id`: joining on both lets the planner read the deal by either index.
    made = and_(
        deals.c.workspace_id == ctx.workspace_id,
        deals.c.id == leads.c.converted_deal_id,
        deals.c.source_lead_id == leads.c.id,
    )
    won = (
        select(deals.c.currency, func.count(), func.sum(deals.c.amount))
        .select_from(leads.join(deals, made))
        .where(*linked, deals.c.status == DealStatus.won, deals.c.deleted_at.is_(None))
        .group_by(deals.c.currency)
        .order_by(deals.c.currency)
    )
    by_currency = await records.read_rows(ctx, won)
    return CampaignStats(
        campaign_id=campaign.id,
        leads=lead_count,
        converted_leads=converted,
        won_deals=sum(count for _, count, _ in by_currency),
        won_amount=[
            WonAmount(currency=currency, amount=amount)
            for currency, _, amount in by_currency
            if amount is not None
        ],
        budget=campaign.budget,
        currency=campaign.currency,
        cost_per_lead=_cost_per_lead(campaign.budget, lead_count, campaign.currency),
    )
