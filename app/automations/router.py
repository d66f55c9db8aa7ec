import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.auth.dependencies import Admin, Member
from app.automations import runs, service
from app.automations.schemas import (
    AutomationCreate,
    AutomationQueryParams,
    AutomationRead,
    AutomationUpdate,
    RunQueryParams,
    RunRead,
    TestResult,
    TestRun,
)
from app.automations.service import AUTOMATIONS
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, Forbidden, problems
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute

router = APIRouter(prefix="/automations", tags=["automations"], route_class=CommittingRoute)

AutomationID = Annotated[uuid.UUID, Path(description="The workflow's id.")]
RunID = Annotated[uuid.UUID, Path(description="The run's id.")]


@router.get(
    "",
    summary="List workflows",
    response_model=Page[AutomationRead],
    responses=problems(*READ_ERRORS),
)
async def list_automations(ctx: Member, query: AutomationQueryParams) -> Response:
    """Every workflow of the workspace, newest first by default; filter by `resource` and
    `active`, `q` searches names."""
    return (await records.list_page(ctx, AUTOMATIONS, query)).response(AutomationRead)


@router.post(
    "",
    summary="Create a workflow",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden),
)
async def create_automation(
    body: AutomationCreate, ctx: Admin, _: Idempotent, response: Response
) -> AutomationRead:
    """Owners and admins only. When its `trigger` fires for a record of `resource` (an event
    such as `lead.created`, optionally "field X changed to Y"; a `schedule` in cron; a `date`
    field such as a contact's `birthday`, `yearly` for anniversaries) and its `conditions`
    hold, its `actions` run in order, each once. Every field named must exist for the
    resource (its custom fields and `account.`/`owner.` fields included): else a 422 naming
    it. Created inactive unless `active` is true."""
    automation = await service.create_automation(ctx, body)
    return await records.read_with_etag(ctx, AUTOMATIONS, automation, response)


add_record_routes(
    router,
    AUTOMATIONS,
    caller=Member,
    writer=Admin,
    id_name="automation_id",
    notes={
        "delete": "Owners and admins only. Runs under way end `skipped` at their next step.",
        "restore": "Owners and admins only.",
    },
)


@router.patch(
    "/{automation_id}",
    summary="Update a workflow",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.AutomationNotFound),
)
async def update_automation(
    automation_id: AutomationID,
    body: AutomationUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> AutomationRead:
    """Owners and admins only; switch it on or off with `active`. Runs already under way
    keep the conditions and actions they started with."""
    patched = await service.update_automation(ctx, automation_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, AUTOMATIONS, patched.record, response)


@router.get(
    "/{automation_id}/runs",
    summary="List a workflow's runs",
    response_model=Page[RunRead],
    responses=problems(*READ_ERRORS, service.AutomationNotFound),
)
async def list_automation_runs(
    automation_id: AutomationID, ctx: Member, query: RunQueryParams
) -> Page[RunRead]:
    """Each firing for a record, newest first: what triggered it, each action's outcome and
    timings, where it stands (`waiting` until `due_at`, `retrying`, `failed` with `error`)."""
    return await runs.list_runs(ctx, automation_id, query)


@router.post(
    "/{automation_id}/runs/{run_id}/retry",
    summary="Retry a failed run",
    responses=problems(
        *WRITE_ERRORS, Forbidden, service.AutomationNotFound, runs.RunNotFound, runs.RunNotFailed
    ),
)
async def retry_automation_run(automation_id: AutomationID, run_id: RunID, ctx: Admin) -> RunRead:
    """Owners and admins only. A `failed` run goes on from the action that failed; the ones
    done before are not done again. Any other run is a 409."""
    return await runs.retry_run(ctx, automation_id, run_id)


@router.post(
    "/{automation_id}/test",
    summary="Dry-run a workflow on a record",
    responses=problems(*WRITE_ERRORS, service.AutomationNotFound),
)
async def test_automation(automation_id: AutomationID, body: TestRun, ctx: Member) -> TestResult:
    """Which conditions hold for the record now, and what each action would do. Nothing is
    sent or written."""
    return await service.try_automation(ctx, automation_id, body.record_id)
