import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.auth.dependencies import Admin, Member
from app.campaigns import service
from app.campaigns.schemas import (
    CampaignCreate,
    CampaignQueryParams,
    CampaignRead,
    CampaignStats,
    CampaignUpdate,
)
from app.campaigns.service import CAMPAIGNS
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, Forbidden, problems
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute

router = APIRouter(prefix="/campaigns", tags=["campaigns"], route_class=CommittingRoute)

CampaignID = Annotated[uuid.UUID, Path(description="The campaign's id.")]


@router.get(
    "",
    summary="List campaigns",
    response_model=Page[CampaignRead],
    responses=problems(*READ_ERRORS),
)
async def list_campaigns(ctx: Member, query: CampaignQueryParams) -> Response:
    """Every campaign of the workspace, newest first by default. Filter by `status` and
    `channel`; `q` searches name and key ignoring case and Vietnamese diacritics."""
    return (await records.list_page(ctx, CAMPAIGNS, query)).response(CampaignRead)


@router.post(
    "",
    summary="Create a campaign",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden, service.CampaignKeyTaken),
)
async def create_campaign(
    body: CampaignCreate, ctx: Admin, _: Idempotent, response: Response
) -> CampaignRead:
    """Owners and admins only. A lead created with `utm_campaign` equal to the `key` (and no
    `campaign_id`) is linked to it. A key another campaign has, deleted ones included, is a
    409 `campaign_key_taken`; the budget must fit its currency's minor units."""
    campaign = await service.create_campaign(ctx, body)
    return await records.read_with_etag(ctx, CAMPAIGNS, campaign, response)


add_record_routes(
    router,
    CAMPAIGNS,
    caller=Member,
    writer=Admin,
    id_name="campaign_id",
    notes={
        "delete": "Owners and admins only. Its leads keep their link, but a lead's "
        "`utm_campaign` no longer finds it; its key stays taken.",
        "restore": "Owners and admins only.",
    },
)


@router.patch(
    "/{campaign_id}",
    summary="Update a campaign",
    responses=problems(
        *UPDATE_ERRORS, Forbidden, service.CampaignNotFound, service.CampaignKeyTaken
    ),
)
async def update_campaign(
    campaign_id: CampaignID,
    body: CampaignUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> CampaignRead:
    """Owners and admins only; only the fields you send change. Send `If-Match` to refuse a
    lost update (412)."""
    campaign = await service.update_campaign(ctx, campaign_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, CAMPAIGNS, campaign.record, response)


@router.get(
    "/{campaign_id}/stats",
    summary="What a campaign brought in",
    responses=problems(*READ_ERRORS, service.CampaignNotFound),
)
async def get_campaign_stats(campaign_id: CampaignID, ctx: Member) -> CampaignStats:
    """Its live leads, those converted, the won deals their conversions made (amounts summed
    per currency) and the cost per lead (budget / leads), over every lead of the workspace."""
    return await service.campaign_stats(ctx, campaign_id)
