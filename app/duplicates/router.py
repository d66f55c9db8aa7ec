import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from app.accounts.service import ACCOUNTS, AccountNotFound
from app.auth.dependencies import Admin, Member
from app.contacts.service import CONTACTS, ContactNotFound
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import (
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    Forbidden,
    SenError,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.records import Resource
from app.core.routing import CommittingRoute
from app.duplicates import scans, service
from app.duplicates.schemas import (
    DuplicateCheckRequest,
    DuplicateGroup,
    DuplicateGroupQueryParams,
    DuplicateResource,
    DuplicateRuleCreate,
    DuplicateRuleQueryParams,
    DuplicateRuleRead,
    DuplicateRuleUpdate,
    Duplicates,
    DuplicateScanCreate,
    DuplicateScanRead,
)
from app.duplicates.service import RULES
from app.leads.service import LEADS, LeadNotFound

rules_router = APIRouter(
    prefix="/duplicate-rules", tags=["duplicates"], route_class=CommittingRoute
)
router = APIRouter(tags=["duplicates"], route_class=CommittingRoute)

RuleID = Annotated[uuid.UUID, Path(description="The duplicate rule's id.")]


@rules_router.get(
    "",
    summary="List duplicate rules",
    response_model=Page[DuplicateRuleRead],
    responses=problems(*READ_ERRORS),
)
async def list_duplicate_rules(ctx: Member, query: DuplicateRuleQueryParams) -> Response:
    """The workspace's rules, oldest first: a new workspace starts with `warn` rules for the
    same email, the same phone, and a similar name with a similar company (leads and
    contacts), and the same tax code or a similar name (accounts)."""
    return (await records.list_page(ctx, RULES, query)).response(DuplicateRuleRead)


@rules_router.post(
    "",
    summary="Create a duplicate rule",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden),
)
async def create_duplicate_rule(
    body: DuplicateRuleCreate, ctx: Admin, _: Idempotent, response: Response
) -> DuplicateRuleRead:
    """Owners and admins only. Every criterion must hold; a field blank in either record
    never matches. A rule needs a name, email, phone or tax code among its fields (422): its
    candidates come from their indexes."""
    rule = await service.create_rule(ctx, body)
    return await records.read_with_etag(ctx, RULES, rule, response)


add_record_routes(
    rules_router,
    RULES,
    caller=Member,
    writer=Admin,
    id_name="rule_id",
    notes={
        "delete": "Owners and admins only. The rule stops applying from the next write.",
        "restore": "Owners and admins only.",
    },
)


@rules_router.patch(
    "/{rule_id}",
    summary="Update a duplicate rule",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.DuplicateRuleNotFound),
)
async def update_duplicate_rule(
    rule_id: RuleID,
    body: DuplicateRuleUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> DuplicateRuleRead:
    """Owners and admins only; only the fields you send change (`resource` is fixed). Send
    `If-Match` to refuse a lost update (412)."""
    rule = await service.update_rule(ctx, rule_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, RULES, rule.record, response)


@router.post(
    "/duplicates/check",
    summary="Check a record against the duplicate rules",
    responses=problems(*WRITE_ERRORS),
)
async def check_duplicates(body: DuplicateCheckRequest, ctx: Member) -> Duplicates:
    """What saving `record` would meet, without saving anything: the records the active rules
    match (a lead is also compared with contacts, a contact with leads), strongest first."""
    return Duplicates(duplicates=await service.check(ctx, body.resource, body.record.model_dump()))


def _record_duplicates_route(
    resource: DuplicateResource, stored: Resource[Any, Any], not_found: type[SenError]
) -> None:
    """`GET /{resources}/{id}/duplicates` for one kind of record."""
    plural, id_name = f"{resource}s", f"{resource}_id"
    others = "leads and contacts" if resource is not DuplicateResource.account else "accounts"

    async def record_duplicates(
        record_id: Annotated[uuid.UUID, Path(alias=id_name, description=f"The {resource}'s id.")],
        ctx: Member,
    ) -> Duplicates:
        found = await service.duplicates_of(ctx, resource, stored, record_id)
        return Duplicates(duplicates=found)

    router.add_api_route(
        f"/{plural}/{{{id_name}}}/duplicates",
        record_duplicates,
        methods=["GET"],
        summary=f"A {resource}'s duplicates",
        description=f"The {others} the {resource}'s rules match, by today's rules, strongest "
        "first (a contact's company is its primary account's).",
        operation_id=f"{resource}_duplicates",
        responses=problems(*READ_ERRORS, not_found),
    )


_record_duplicates_route(DuplicateResource.lead, LEADS, LeadNotFound)
_record_duplicates_route(DuplicateResource.contact, CONTACTS, ContactNotFound)
_record_duplicates_route(DuplicateResource.account, ACCOUNTS, AccountNotFound)


@router.post(
    "/duplicates/scans",
    summary="Scan the workspace for duplicates",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(*WRITE_ERRORS, Forbidden, scans.DuplicateScanUnderWay),
)
async def start_duplicate_scan(
    body: DuplicateScanCreate, ctx: Admin, _: Idempotent
) -> DuplicateScanRead:
    """Owners and admins only. The worker checks every live record of `resource` against
    today's rules (records that predate them, or came in while a rule was off); follow it with
    `GET /duplicates/scans/{scan_id}`, then read its groups. One scan of a kind at a time:
    another while one is queued or running is a 409 `duplicate_scan_under_way`."""
    return DuplicateScanRead.model_validate(await scans.request_scan(ctx, body))


ScanID = Annotated[uuid.UUID, Path(description="The scan's id.")]


@router.get(
    "/duplicates/scans/{scan_id}",
    summary="A duplicate scan's progress",
    responses=problems(*READ_ERRORS, Forbidden, scans.DuplicateScanNotFound),
)
async def get_duplicate_scan(scan_id: ScanID, ctx: Admin) -> DuplicateScanRead:
    """`scanned` of `total` records so far (a progress bar), and its status."""
    return DuplicateScanRead.model_validate(await scans.get_scan(ctx, scan_id))


@router.get(
    "/duplicates/scans/{scan_id}/groups",
    summary="The duplicate groups a scan found",
    responses=problems(*READ_ERRORS, Forbidden, scans.DuplicateScanNotFound),
)
async def list_duplicate_groups(
    scan_id: ScanID, ctx: Admin, query: DuplicateGroupQueryParams
) -> Page[DuplicateGroup]:
    """Records the rules take for one person or company, strongest group first, a page at a
    time; empty until the scan is completed. Each group is ready for `POST /{resource}/merge`."""
    return await scans.groups_of(ctx, scan_id, query)
