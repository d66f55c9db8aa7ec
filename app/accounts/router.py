import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.accounts import service
from app.accounts.schemas import AccountCreate, AccountQueryParams, AccountRead, AccountUpdate
from app.contacts import service as contacts_service
from app.contacts.schemas import ContactQueryParams, ContactRead
from app.core.auth import Member
from app.core.concurrency import IfMatch, set_etag
from app.core.errors import DELETE_ERRORS, READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, problems
from app.core.history import History, HistoryQueryParams
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.routing import CommittingRoute
from app.deals import service as deals_service
from app.deals.schemas import DealQueryParams, DealRead

router = APIRouter(prefix="/accounts", tags=["accounts"], route_class=CommittingRoute)

AccountID = Annotated[uuid.UUID, Path(description="The account's id.")]


@router.get(
    "",
    summary="List accounts",
    response_model=Page[AccountRead],
    responses=problems(*READ_ERRORS),
)
async def list_accounts(ctx: Member, query: AccountQueryParams) -> Response:
    """Accounts you can see, newest first by default. Filters combine with AND; `q` ignores
    case and Vietnamese diacritics over name, tax code, email, phone and website."""
    return (await service.list_accounts(ctx, query)).response(AccountRead)


@router.post(
    "",
    summary="Create an account",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS),
)
async def create_account(
    body: AccountCreate, ctx: Member, _: Idempotent, response: Response
) -> AccountRead:
    """Owner defaults to you and type to `prospect`; `phone_e164` is derived from `phone`."""
    account = await service.create_account(ctx, body)
    set_etag(response, account.version)
    return AccountRead.model_validate(account)


@router.get(
    "/{account_id}",
    summary="Get an account",
    responses=problems(*READ_ERRORS, service.AccountNotFound),
)
async def get_account(account_id: AccountID, ctx: Member, response: Response) -> AccountRead:
    """The account, with its version as `ETag` for a later `If-Match`."""
    account = await service.get_account(ctx, account_id)
    set_etag(response, account.version)
    return AccountRead.model_validate(account)


@router.patch(
    "/{account_id}",
    summary="Update an account",
    responses=problems(*UPDATE_ERRORS, service.AccountNotFound, service.AccountHierarchyCycle),
)
async def update_account(
    account_id: AccountID,
    body: AccountUpdate,
    ctx: Member,
    response: Response,
    if_match: IfMatch = None,
) -> AccountRead:
    """Only the fields you send change. A `parent_id` that would put the account under itself
    is a 409; send `If-Match` to refuse a lost update (412)."""
    account = await service.update_account(ctx, account_id, body, if_match=if_match)
    set_etag(response, account.version)
    return AccountRead.model_validate(account)


@router.delete(
    "/{account_id}",
    summary="Delete an account",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(*DELETE_ERRORS, service.AccountNotFound),
)
async def delete_account(account_id: AccountID, ctx: Member, if_match: IfMatch = None) -> None:
    """A soft delete: the account leaves lists (see `include_deleted`) and can be restored."""
    await service.delete_account(ctx, account_id, if_match=if_match)


@router.post(
    "/{account_id}/restore",
    summary="Restore a deleted account",
    responses=problems(*READ_ERRORS, service.AccountNotFound),
)
async def restore_account(account_id: AccountID, ctx: Member, response: Response) -> AccountRead:
    """Brings a soft-deleted account back; restoring a live account changes nothing."""
    account = await service.restore_account(ctx, account_id)
    set_etag(response, account.version)
    return AccountRead.model_validate(account)


@router.get(
    "/{account_id}/history",
    summary="An account's change history",
    responses=problems(*READ_ERRORS, service.AccountNotFound),
)
async def get_account_history(
    account_id: AccountID, ctx: Member, query: HistoryQueryParams
) -> History:
    """Every change, oldest first, by cursor: who, when, which fields, old → new."""
    return await service.account_history(ctx, account_id, query)


@router.get(
    "/{account_id}/contacts",
    summary="An account's contacts",
    response_model=Page[ContactRead],
    responses=problems(*READ_ERRORS, service.AccountNotFound),
)
async def list_account_contacts(
    account_id: AccountID, ctx: Member, query: ContactQueryParams
) -> Response:
    """The contacts linked to the account that you can see, with the same filters, sort and
    pagination as `GET /contacts`."""
    rows = await contacts_service.list_account_contacts(ctx, account_id, query)
    return rows.response(ContactRead)


@router.get(
    "/{account_id}/deals",
    summary="An account's deals",
    response_model=Page[DealRead],
    responses=problems(*READ_ERRORS, service.AccountNotFound),
)
async def list_account_deals(
    account_id: AccountID, ctx: Member, query: DealQueryParams
) -> Response:
    """The account's deals that you can see, with the same filters, sort and pagination as
    `GET /deals`."""
    rows = await deals_service.list_account_deals(ctx, account_id, query)
    return rows.response(DealRead)
