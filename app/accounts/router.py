import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.accounts import service
from app.accounts.schemas import AccountCreate, AccountQueryParams, AccountRead, AccountUpdate
from app.accounts.service import ACCOUNTS
from app.auth.dependencies import Member
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, problems
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute
from app.duplicates.schemas import AllowDuplicates, duplicate_policy
from app.duplicates.service import DuplicateFound, PossibleDuplicate

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
    return (await records.list_page(ctx, ACCOUNTS, query)).response(AccountRead)


@router.post(
    "",
    summary="Create an account",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, DuplicateFound, PossibleDuplicate),
)
async def create_account(
    body: AccountCreate,
    ctx: Member,
    _: Idempotent,
    response: Response,
    allow_duplicates: AllowDuplicates = False,
) -> AccountRead:
    """Owner defaults to you and type to `prospect`; `phone_e164` is derived from `phone`. An
    account the workspace's duplicate rules match is a 409 `duplicate` or
    `possible_duplicate` (send `allow_duplicates=true` to save past a warning)."""
    account = await service.create_account(ctx, body, duplicates=duplicate_policy(allow_duplicates))
    return await records.read_with_etag(ctx, ACCOUNTS, account, response)


add_record_routes(router, ACCOUNTS, caller=Member, id_name="account_id")


@router.patch(
    "/{account_id}",
    summary="Update an account",
    responses=problems(
        *UPDATE_ERRORS,
        service.AccountNotFound,
        service.AccountHierarchyCycle,
        DuplicateFound,
        PossibleDuplicate,
    ),
)
async def update_account(
    account_id: AccountID,
    body: AccountUpdate,
    ctx: Member,
    response: Response,
    if_match: IfMatch = None,
    allow_duplicates: AllowDuplicates = False,
) -> AccountRead:
    """Only the fields you send change. A `parent_id` that would put the account under itself
    is a 409; send `If-Match` to refuse a lost update (412). A change of a field the duplicate
    rules compare is checked as a new account is (409)."""
    account = await service.update_account(
        ctx, account_id, body, if_match=if_match, duplicates=duplicate_policy(allow_duplicates)
    )
    return await records.read_with_etag(ctx, ACCOUNTS, account.record, response)
