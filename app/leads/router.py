import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.accounts.schemas import AccountRead, TaxCode
from app.auth.dependencies import Admin, Member
from app.contacts.service import CONTACTS, TooManyAccountLinks
from app.core import records
from app.core.concurrency import IfMatch, set_etag
from app.core.errors import (
    DELETE_ERRORS,
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    Forbidden,
    Unauthorized,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.limits import ACCOUNTS_PER_CONTACT, LEAD_STATUSES_PER_WORKSPACE
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute
from app.deals.schemas import DealRead
from app.duplicates.schemas import AllowDuplicates, duplicate_policy
from app.duplicates.service import DuplicateFound, PossibleDuplicate
from app.leads import convert, service, statuses
from app.leads.schemas import (
    Conversion,
    ConversionPreview,
    ConvertLead,
    LeadCreate,
    LeadQueryParams,
    LeadRead,
    LeadStatusCreate,
    LeadStatusList,
    LeadStatusRead,
    LeadStatusUpdate,
    LeadUpdate,
)
from app.leads.service import LEADS
from app.pipelines.service import DefaultPipelineRequired

router = APIRouter(prefix="/leads", tags=["leads"], route_class=CommittingRoute)
statuses_router = APIRouter(
    prefix="/lead-statuses", tags=["lead-statuses"], route_class=CommittingRoute
)

LeadID = Annotated[uuid.UUID, Path(description="The lead's id.")]
StatusID = Annotated[uuid.UUID, Path(description="The status's id.")]


@router.get(
    "", summary="List leads", response_model=Page[LeadRead], responses=problems(*READ_ERRORS)
)
async def list_leads(ctx: Member, query: LeadQueryParams) -> Response:
    """Leads you can see, newest first by default. Filters combine with AND; `q` ignores case
    and Vietnamese diacritics over name, company, email and phone."""
    return (await records.list_page(ctx, LEADS, query)).response(LeadRead)


@router.post(
    "",
    summary="Create a lead",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, DuplicateFound, PossibleDuplicate),
)
async def create_lead(
    body: LeadCreate,
    ctx: Member,
    _: Idempotent,
    response: Response,
    allow_duplicates: AllowDuplicates = False,
) -> LeadRead:
    """Owner defaults to you and status to `new`; `phone_e164` is derived from `phone`. A
    lead the workspace's duplicate rules match (leads and contacts) is a 409: `duplicate`
    (a `block` rule) or `possible_duplicate` (a `warn` rule: send `allow_duplicates=true` to
    save it anyway), listing the records it matched."""
    lead = await service.create_lead(ctx, body, duplicates=duplicate_policy(allow_duplicates))
    return await records.read_with_etag(ctx, LEADS, lead, response)


add_record_routes(router, LEADS, caller=Member, id_name="lead_id")


@router.patch(
    "/{lead_id}",
    summary="Update a lead",
    responses=problems(
        *UPDATE_ERRORS,
        service.LeadNotFound,
        service.LeadConverted,
        DuplicateFound,
        PossibleDuplicate,
    ),
)
async def update_lead(
    lead_id: LeadID,
    body: LeadUpdate,
    ctx: Member,
    response: Response,
    if_match: IfMatch = None,
    allow_duplicates: AllowDuplicates = False,
) -> LeadRead:
    """Only the fields you send change. Send `If-Match` to refuse a lost update (412). A
    change of a field the duplicate rules compare is checked as a new lead is (409)."""
    lead = await service.update_lead(
        ctx, lead_id, body, if_match=if_match, duplicates=duplicate_policy(allow_duplicates)
    )
    return await records.read_with_etag(ctx, LEADS, lead.record, response)


@router.post(
    "/{lead_id}/convert",
    summary="Convert a lead",
    description="Turns the lead into a contact, an account (new, or an existing one by `id`) "
    "and, if you ask, a deal: all in one transaction, or nothing. The lead becomes `converted` "
    "and read-only; converting it again, or a disqualified lead, is a 409, and so is linking "
    f"an existing contact that already has {ACCOUNTS_PER_CONTACT} accounts "
    "(`account_link_limit`).",
    responses=problems(
        *UPDATE_ERRORS,
        service.LeadNotFound,
        convert.LeadAlreadyConverted,
        convert.LeadDisqualified,
        TooManyAccountLinks,
        DefaultPipelineRequired,
    ),
)
async def convert_lead(
    lead_id: LeadID, ctx: Member, _: Idempotent, body: ConvertLead | None = None
) -> Conversion:
    done = await convert.convert_lead(ctx, lead_id, body or ConvertLead())
    return Conversion(
        lead=await records.read(ctx, LEADS, done.lead),
        account=AccountRead.model_validate(done.account) if done.account else None,
        contact=await records.read(ctx, CONTACTS, done.contact),
        deal=DealRead.model_validate(done.deal) if done.deal else None,
    )


@router.get(
    "/{lead_id}/convert",
    summary="Preview a lead's conversion",
    responses=problems(*READ_ERRORS, service.LeadNotFound),
)
async def preview_lead_conversion(
    lead_id: LeadID,
    ctx: Member,
    tax_code: Annotated[
        TaxCode | None, Query(description="Also match accounts by this tax code.")
    ] = None,
) -> ConversionPreview:
    """Existing accounts and contacts you can see that match the lead by email or phone
    (accounts also by company name or `tax_code`), so you can link to them instead."""
    return await convert.preview_conversion(ctx, lead_id, tax_code=tax_code)


@statuses_router.get(
    "",
    summary="List lead statuses",
    description="The workspace's statuses in pipeline order, retired ones included "
    f"(`is_active`). Not paged: a workspace has at most {LEAD_STATUSES_PER_WORKSPACE}.",
    responses=problems(Unauthorized),
)
async def list_lead_statuses(ctx: Member) -> LeadStatusList:
    found = await statuses.list_statuses(ctx)
    return LeadStatusList(data=[LeadStatusRead.model_validate(s) for s in found])


@statuses_router.post(
    "",
    summary="Add a lead status",
    description="Admins only. The key is permanent; labels and position can change later. A "
    f"workspace has at most {LEAD_STATUSES_PER_WORKSPACE} statuses, retired ones included: one "
    "more is a 409 `lead_status_limit` (delete an unused one first).",
    status_code=status.HTTP_201_CREATED,
    responses=problems(
        *WRITE_ERRORS, Forbidden, statuses.LeadStatusKeyTaken, statuses.TooManyLeadStatuses
    ),
)
async def create_lead_status(body: LeadStatusCreate, ctx: Admin, _: Idempotent) -> LeadStatusRead:
    return LeadStatusRead.model_validate(await statuses.create_status(ctx, body))


@statuses_router.patch(
    "/{status_id}",
    summary="Rename, reorder or retire a status",
    responses=problems(*UPDATE_ERRORS, Forbidden, statuses.LeadStatusNotFound),
)
async def update_lead_status(
    status_id: StatusID,
    body: LeadStatusUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> LeadStatusRead:
    """Admins only. A retired status (`is_active: false`) can no longer be given to leads."""
    found = await statuses.update_status(ctx, status_id, body, if_match=if_match)
    set_etag(response, found.version)
    return LeadStatusRead.model_validate(found)


@statuses_router.delete(
    "/{status_id}",
    summary="Delete an unused status",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        *DELETE_ERRORS, Forbidden, statuses.LeadStatusNotFound, statuses.LeadStatusInUse
    ),
)
async def delete_lead_status(status_id: StatusID, ctx: Admin, if_match: IfMatch = None) -> None:
    """Admins only. A status any lead still has is a 409: retire it instead."""
    await statuses.delete_status(ctx, status_id, if_match=if_match)
