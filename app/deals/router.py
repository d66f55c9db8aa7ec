import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.accounts.service import AccountNotFound
from app.auth.dependencies import Member
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, problems
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute
from app.deals import service
from app.deals.schemas import (
    DealCreate,
    DealQueryParams,
    DealRead,
    DealUpdate,
    MoveToStage,
    StageHistory,
    StageHistoryQueryParams,
)
from app.deals.service import DEALS
from app.pipelines.service import DefaultPipelineRequired

router = APIRouter(prefix="/deals", tags=["deals"], route_class=CommittingRoute)

# The deals of an account are deals: their route lives here, under the accounts' path.
account_deals_router = APIRouter(prefix="/accounts", tags=["accounts"], route_class=CommittingRoute)

DealID = Annotated[uuid.UUID, Path(description="The deal's id.")]
AccountID = Annotated[uuid.UUID, Path(description="The account's id.")]


@router.get(
    "", summary="List deals", response_model=Page[DealRead], responses=problems(*READ_ERRORS)
)
async def list_deals(ctx: Member, query: DealQueryParams) -> Response:
    """Deals you can see, newest first by default. Filters combine with AND; `q` ignores case
    and Vietnamese diacritics over the name."""
    return (await records.list_page(ctx, DEALS, query)).response(DealRead)


@router.post(
    "",
    summary="Create a deal",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, DefaultPipelineRequired),
)
async def create_deal(body: DealCreate, ctx: Member, _: Idempotent, response: Response) -> DealRead:
    """In the default pipeline's first open stage unless told otherwise; the amount must fit
    its currency's minor units (no fractions of a đồng)."""
    deal = await service.create_deal(ctx, body)
    return await records.read_with_etag(ctx, DEALS, deal, response)


add_record_routes(router, DEALS, caller=Member, id_name="deal_id")


@router.patch(
    "/{deal_id}",
    summary="Update a deal",
    responses=problems(*UPDATE_ERRORS, service.DealNotFound),
)
async def update_deal(
    deal_id: DealID, body: DealUpdate, ctx: Member, response: Response, if_match: IfMatch = None
) -> DealRead:
    """Only the fields you send change; `stage_id` moves the deal by the stage rules. Send
    `If-Match` to refuse a lost update (412)."""
    deal = await service.update_deal(ctx, deal_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, DEALS, deal.record, response)


@router.post(
    "/{deal_id}/stage",
    summary="Move a deal to a stage",
    responses=problems(*UPDATE_ERRORS, service.DealNotFound),
)
async def move_deal_to_stage(
    deal_id: DealID,
    body: MoveToStage,
    ctx: Member,
    response: Response,
    if_match: IfMatch = None,
) -> DealRead:
    """A stage of the deal's own pipeline (another pipeline's is a 422). A `won` or `lost`
    stage closes the deal (`closed_at`; lost needs `lost_reason`), an open one reopens it.
    The first won deal of a prospect makes the account a customer."""
    deal = await service.move_deal_to_stage(ctx, deal_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, DEALS, deal.record, response)


@router.get(
    "/{deal_id}/stage-history",
    summary="A deal's stage moves",
    responses=problems(*READ_ERRORS, service.DealNotFound),
)
async def get_deal_stage_history(
    deal_id: DealID, ctx: Member, query: StageHistoryQueryParams
) -> StageHistory:
    """Oldest first, the creation (from no stage) included, with the time spent in the stage
    each move left; paged by `limit`/`cursor` like every list."""
    return await service.stage_history(ctx, deal_id, query)


@account_deals_router.get(
    "/{account_id}/deals",
    summary="An account's deals",
    response_model=Page[DealRead],
    responses=problems(*READ_ERRORS, AccountNotFound),
)
async def list_account_deals(
    account_id: AccountID, ctx: Member, query: DealQueryParams
) -> Response:
    """The account's deals that you can see, with the same filters, sort and pagination as
    `GET /deals`."""
    rows = await service.list_account_deals(ctx, account_id, query)
    return rows.response(DealRead)
