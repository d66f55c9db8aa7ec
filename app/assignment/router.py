import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.assignment import service
from app.assignment.schemas import (
    AssignmentRuleCreate,
    AssignmentRuleQueryParams,
    AssignmentRuleRead,
    AssignmentRuleUpdate,
)
from app.assignment.service import ASSIGNMENT_RULES
from app.auth.dependencies import Admin, Member
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, Forbidden, problems
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute

router = APIRouter(
    prefix="/assignment-rules", tags=["assignment-rules"], route_class=CommittingRoute
)

RuleID = Annotated[uuid.UUID, Path(description="The assignment rule's id.")]


@router.get(
    "",
    summary="List assignment rules",
    response_model=Page[AssignmentRuleRead],
    responses=problems(*READ_ERRORS),
)
async def list_assignment_rules(ctx: Member, query: AssignmentRuleQueryParams) -> Response:
    """In the order intake tries them by default: `priority`, then id. A new lead goes to the
    first active rule whose conditions it meets."""
    return (await records.list_page(ctx, ASSIGNMENT_RULES, query)).response(AssignmentRuleRead)


@router.post(
    "",
    summary="Create an assignment rule",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden),
)
async def create_assignment_rule(
    body: AssignmentRuleCreate, ctx: Admin, _: Idempotent, response: Response
) -> AssignmentRuleRead:
    """Admins only. `round_robin` takes turns among the candidates, `least_loaded` picks the
    one with the fewest open leads, `fixed` the first; inactive users are passed over, and a
    rule left with none gives way to the next."""
    rule = await service.create_assignment_rule(ctx, body)
    return await records.read_with_etag(ctx, ASSIGNMENT_RULES, rule, response)


add_record_routes(
    router,
    ASSIGNMENT_RULES,
    caller=Member,
    writer=Admin,
    id_name="assignment_rule_id",
    notes={"delete": "Admins only.", "restore": "Admins only."},
)


@router.patch(
    "/{assignment_rule_id}",
    summary="Update an assignment rule",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.AssignmentRuleNotFound),
)
async def update_assignment_rule(
    assignment_rule_id: RuleID,
    body: AssignmentRuleUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> AssignmentRuleRead:
    """Admins only. Only the fields you send change; `conditions` is replaced whole."""
    patched = await service.update_assignment_rule(ctx, assignment_rule_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, ASSIGNMENT_RULES, patched.record, response)
