import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.auth.dependencies import Admin
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, Forbidden, problems
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute
from app.webhooks import service
from app.webhooks.schemas import (
    DeliveryQueryParams,
    DeliveryRead,
    WebhookCreate,
    WebhookQueryParams,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)
from app.webhooks.service import WEBHOOKS

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=CommittingRoute)

WebhookID = Annotated[uuid.UUID, Path(description="The webhook's id.")]
DeliveryID = Annotated[uuid.UUID, Path(description="The delivery's id.")]


def _with_secret(read: WebhookRead, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret.model_validate({**read.model_dump(), "secret": secret})


@router.get("", summary="List webhooks", responses=problems(*READ_ERRORS, Forbidden))
async def list_webhooks(ctx: Admin, query: WebhookQueryParams) -> Page[WebhookRead]:
    """Owners and admins: the workspace's outbound webhooks, newest first, never their
    secrets. `failing_since` flags one whose deliveries ran out of retries;
    `disabled_reason` says why Sen switched one off."""
    return await service.list_webhooks(ctx, query)


@router.post(
    "",
    summary="Create a webhook",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden),
)
async def create_webhook(
    body: WebhookCreate, ctx: Admin, _: Idempotent, response: Response
) -> WebhookWithSecret:
    """Owners and admins. Sen posts each event named in `events` to `url`, signed as Standard
    Webhooks describe (`webhook-id`, `webhook-timestamp`, `webhook-signature`), retrying a
    failed delivery for about a day. The answer carries the signing `secret`, shown this
    once."""
    webhook = await service.create_webhook(ctx, body)
    read = await records.read_with_etag(ctx, WEBHOOKS, webhook, response)
    return _with_secret(read, webhook.secret)


add_record_routes(
    router,
    WEBHOOKS,
    caller=Admin,
    caller_refuses=True,
    id_name="webhook_id",
    notes={
        "get": "Owners and admins; never its secret.",
        "delete": "Nothing more is sent to it; deliveries waiting for a retry end `failed`.",
        "restore": "It receives events again.",
        "history": "A new secret shows as `***`.",
    },
)


@router.patch(
    "/{webhook_id}",
    summary="Update a webhook",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.WebhookNotFound),
)
async def update_webhook(
    webhook_id: WebhookID,
    body: WebhookUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookRead:
    """Owners and admins; only the fields sent change. `active: true` switches back on a
    webhook Sen disabled (its receiver answered 410) and clears `disabled_reason` and
    `failing_since`."""
    patched = await service.update_webhook(ctx, webhook_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, WEBHOOKS, patched.record, response)


@router.post(
    "/{webhook_id}/rotate-secret",
    summary="Rotate a webhook's secret",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.WebhookNotFound),
)
async def rotate_webhook_secret(
    webhook_id: WebhookID, ctx: Admin, response: Response, if_match: IfMatch = None
) -> WebhookWithSecret:
    """Owners and admins: a new signing secret, shown this once; every attempt from now on
    (retries of earlier deliveries too) is signed with it, and the old one stops working."""
    webhook = await service.rotate_secret(ctx, webhook_id, if_match=if_match)
    read = await records.read_with_etag(ctx, WEBHOOKS, webhook, response)
    return _with_secret(read, webhook.secret)


@router.get(
    "/{webhook_id}/deliveries",
    summary="List a webhook's deliveries",
    responses=problems(*READ_ERRORS, Forbidden, service.WebhookNotFound),
)
async def list_webhook_deliveries(
    webhook_id: WebhookID, ctx: Admin, query: DeliveryQueryParams
) -> Page[DeliveryRead]:
    """Owners and admins: each event sent to the webhook, newest first: its status
    (`pending`, `delivered`, `failed`), attempts, the receiver's last status code, latency
    and the start of its answer, and the body sent."""
    return await service.list_deliveries(ctx, webhook_id, query)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    summary="Send a delivery again",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(
        *READ_ERRORS,
        Forbidden,
        service.WebhookDeliveryNotFound,
        service.WebhookNotFound,
        service.WebhookInactive,
    ),
)
async def redeliver_webhook_delivery(delivery_id: DeliveryID, ctx: Admin) -> DeliveryRead:
    """Owners and admins: the worker sends the same message again at once (the same
    `webhook-id` and body, signed afresh), with the whole retry schedule ahead of it. The
    webhook must be active (409 `webhook_inactive`)."""
    return DeliveryRead.model_validate(await service.redeliver(ctx, delivery_id))
