import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from app.auth.dependencies import Admin, Member
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import (
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    Forbidden,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute
from app.integrations import service
from app.integrations.schemas import (
    Backfill,
    BackfillRead,
    IntegrationCreate,
    IntegrationQueryParams,
    IntegrationRead,
    IntegrationUpdate,
)
from app.integrations.service import INTEGRATIONS

router = APIRouter(prefix="/integrations", tags=["integrations"], route_class=CommittingRoute)

IntegrationID = Annotated[uuid.UUID, Path(description="The integration's id.")]


@router.get("", summary="List integrations", responses=problems(*READ_ERRORS))
async def list_integrations(ctx: Member, query: IntegrationQueryParams) -> Page[IntegrationRead]:
    """The workspace's ad-platform connections, newest first, each with its webhook URL; every
    secret in `config` reads as `***`. Filter by `provider`, `active` or `campaign_id`."""
    return await service.list_integrations(ctx, query)


@router.post(
    "",
    summary="Connect an ad platform",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden),
)
async def create_integration(
    body: IntegrationCreate, ctx: Admin, _: Idempotent, response: Response
) -> IntegrationRead:
    """Owners and admins. `config` is the provider's (`meta`: `app_secret`, `verify_token`,
    `page_access_token`; `google`: `google_key`; `tiktok` and `generic`: `secret`, `id_field`,
    `mapping`), checked field by field (422). The answer carries `webhook_url`, the address to
    give the platform; secrets are never read back."""
    integration = await service.create_integration(ctx, body)
    return await records.read_with_etag(ctx, INTEGRATIONS, integration, response)


add_record_routes(
    router,
    INTEGRATIONS,
    caller=Member,
    writer=Admin,
    id_name="integration_id",
    notes={
        "delete": "Its webhook stops taking leads (404); what it took is kept.",
        "restore": "Its webhook takes leads again.",
        "history": "Secrets in `config` show as `***`.",
    },
)


@router.patch(
    "/{integration_id}",
    summary="Update an integration",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.IntegrationNotFound),
)
async def update_integration(
    integration_id: IntegrationID,
    body: IntegrationUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> IntegrationRead:
    """Owners and admins; only the fields sent change. A `config` replaces the stored one:
    send it as you read it, each secret still `***` unless you change it. `active: false`
    stops its webhook taking leads (404 to the platform) without deleting it."""
    patched = await service.update_integration(ctx, integration_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, INTEGRATIONS, patched.record, response)


@router.post(
    "/{integration_id}/backfill",
    summary="Read missed Meta leads",
    responses=problems(
        *WRITE_ERRORS,
        Forbidden,
        service.IntegrationNotFound,
        service.BackfillUnsupported,
        service.GraphRefused,
        service.GraphUnavailable,
    ),
)
async def backfill_integration(
    integration_id: IntegrationID, body: Backfill, ctx: Admin, request: Request
) -> BackfillRead:
    """Owners and admins, Meta integrations: reads the lead forms' leads created in
    [`from`, `to`) from the Graph API and stores each one not received yet, as its webhook
    would have (Meta stops retrying a webhook after about 36 hours). Run it again safely: a
    lead already received is counted in `redelivered`, never stored twice."""
    return await service.backfill(ctx, integration_id, body, request.app.state.http)
