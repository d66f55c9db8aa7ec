"""The public endpoints ad platforms and other sources post leads to, one per provider at
`/intake/{provider}/{integration_id}`. No token: a provider's signature or key authenticates
each post, checked over the raw body before anything is parsed; what passes is stored before
the 200, and a lead delivered again is answered 200 without a second submission."""

import uuid
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import PlainTextResponse

from app.core.context import Ctx
from app.core.errors import BadRequest, PayloadTooLarge, RateLimited, Unprocessable, problems
from app.core.openapi import inline_schema
from app.core.ratelimit import client_ip
from app.core.routing import CommittingRoute
from app.core.settings import get_settings
from app.intake import receiving
from app.intake.schemas import WebhookReceived
from app.integrations import google, meta, signed
from app.integrations import service as integrations_service
from app.integrations.models import Integration
from app.integrations.payloads import Delivered
from app.integrations.schemas import IntegrationProvider

router = APIRouter(prefix="/intake", tags=["intake"], route_class=CommittingRoute)

IntegrationID = Annotated[
    uuid.UUID, Path(description="The integration's id, as its `webhook_url` names it.")
]
_ERRORS = problems(
    BadRequest,
    signed.SignatureMissing,
    signed.SignatureInvalid,
    integrations_service.IntegrationNotFound,
    PayloadTooLarge,
    Unprocessable,
    RateLimited,
)


def _json_body(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    content = {"application/json": {"schema": schema, "example": example}}
    return {"requestBody": {"required": True, "content": content}}


_META_EXAMPLE = {
    "object": "page",
    "entry": [
        {
            "id": "106270412345678",
            "time": 1764820800,
            "changes": [
                {
                    "field": "leadgen",
                    "value": {
                        "leadgen_id": "1234567890123456",
                        "form_id": "987654321098765",
                        "page_id": "106270412345678",
                        "created_time": 1764820799,
                    },
                }
            ],
        }
    ],
}
_GOOGLE_EXAMPLE = {
    "lead_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-0123456789",
    "api_version": "1.0",
    "form_id": 40000000000,
    "campaign_id": 20000000000,
    "google_key": "khoa-bi-mat-2027",
    "is_test": False,
    "gcl_id": "EAIaIQobChMI",
    "user_column_data": [
        {"column_id": "FULL_NAME", "column_name": "Full Name", "string_value": "Nguyễn Văn Ánh"},
        {"column_id": "PHONE_NUMBER", "string_value": "+84912345678"},
    ],
}
_SIGNED_LEAD: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
    "description": "One lead: its fields as the source names them (`config.mapping` maps "
    "them), its own id at `config.id_field`. At most 500 values of 10,000 characters each, 10 "
    "levels deep, 1048576 bytes in all.",
}
_SIGNED_BODY = {
    "anyOf": [
        _SIGNED_LEAD,
        {"type": "array", "items": _SIGNED_LEAD, "minItems": 1, "maxItems": 100},
    ]
}
_SIGNED_EXAMPLE = {"lead_id": "7301", "full_name": "Trần Thị Bích", "phone": "0912 345 678"}


async def _within_rate(request: Request, integration_id: uuid.UUID) -> None:
    """Calls one address may make to one integration a minute, then 429 (failing open when
    Redis is down: a lead let through is better than one lost)."""
    limiter = request.app.state.rate_limiter
    per_minute = get_settings().intake_webhooks_per_minute
    await limiter.limit("webhook", per_minute, 60, client_ip(request), str(integration_id))


async def _raw_body(request: Request, integration_id: uuid.UUID) -> bytes:
    """The body as sent (at most 1 MiB), once the client is within its rate."""
    await _within_rate(request, integration_id)
    return await request.body()


async def _integration(
    request: Request, provider: IntegrationProvider, integration_id: uuid.UUID
) -> tuple[Ctx, Integration]:
    return await integrations_service.public_integration(
        request.state.session, provider, integration_id
    )


Verified = Callable[[bytes, dict[str, Any]], list[Delivered]]


async def _receive(
    request: Request,
    provider: IntegrationProvider,
    integration_id: uuid.UUID,
    verified: Verified,
) -> WebhookReceived:
    """A post within its rate, to a live integration of `provider`, whose leads `verified`
    reads once it has checked the signature over the raw body (with the integration's
    config): stored, then answered."""
    raw = await _raw_body(request, integration_id)
    ctx, integration = await _integration(request, provider, integration_id)
    delivered = verified(raw, integration.config)
    return await receiving.receive_platform_leads(ctx, integration, delivered, _context(request))


def _context(request: Request) -> dict[str, Any]:
    return {
        "ip": client_ip(request),
        "user_agent": (request.headers.get("user-agent") or "")[:300] or None,
    }


@router.get(
    "/meta/{integration_id}",
    summary="Meta's webhook check (public)",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "The challenge, as sent",
            "content": {"text/plain": {"example": "1158201444"}},
        },
        **problems(
            signed.SignatureInvalid,
            integrations_service.IntegrationNotFound,
            Unprocessable,
            RateLimited,
        ),
    },
)
async def verify_meta_webhook(
    integration_id: IntegrationID,
    request: Request,
    mode: Annotated[str, Query(alias="hub.mode", max_length=50)],
    verify_token: Annotated[str, Query(alias="hub.verify_token", max_length=1000)],
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)],
) -> PlainTextResponse:
    """What Meta calls when you add this URL to your app's Webhooks: with `hub.mode=subscribe`
    and the integration's `verify_token`, the answer is `hub.challenge` as plain text; else a
    403."""
    await _within_rate(request, integration_id)
    _, integration = await _integration(request, IntegrationProvider.meta, integration_id)
    meta.check_handshake(integration.config["verify_token"], mode, verify_token)
    return PlainTextResponse(challenge)


@router.post(
    "/meta/{integration_id}",
    summary="Receive Meta Lead Ads (public)",
    openapi_extra=_json_body(inline_schema(meta.MetaWebhook), _META_EXAMPLE),
    responses=_ERRORS,
)
async def receive_meta_leads(
    integration_id: IntegrationID,
    request: Request,
    x_hub_signature_256: Annotated[
        str | None,
        Header(max_length=500, description="`sha256=` + hex HMAC-SHA256 of the body."),
    ] = None,
) -> WebhookReceived:
    """Meta's `leadgen` webhook for a page. A signature missing is a 401, a wrong one a 403,
    and nothing is stored; otherwise one submission per `leadgen` change, stored before the
    200. The worker then reads each lead from the Graph API with the page access token."""
    verified = partial(meta.verified_leads, signature=x_hub_signature_256)
    return await _receive(request, IntegrationProvider.meta, integration_id, verified)


@router.post(
    "/google/{integration_id}",
    summary="Receive a Google Ads lead (public)",
    openapi_extra=_json_body(inline_schema(google.GoogleLead), _GOOGLE_EXAMPLE),
    responses=_ERRORS,
)
async def receive_google_lead(integration_id: IntegrationID, request: Request) -> WebhookReceived:
    """Google Ads' lead form webhook. The body's `google_key` must be the integration's (401
    without one, 403 otherwise; nothing stored). A test lead (`is_test`) is stored as `test`
    and makes no lead."""
    return await _receive(
        request, IntegrationProvider.google, integration_id, google.verified_leads
    )


@router.post(
    "/tiktok/{integration_id}",
    summary="Receive TikTok leads (public)",
    openapi_extra=_json_body(_SIGNED_BODY, _SIGNED_EXAMPLE),
    responses=_ERRORS,
)
async def receive_tiktok_leads(
    integration_id: IntegrationID,
    request: Request,
    tiktok_signature: Annotated[
        str | None,
        Header(
            alias="TikTok-Signature",
            max_length=500,
            description="`t=<unix time>,s=<hex HMAC-SHA256 of t.body>` with the app's secret.",
        ),
    ] = None,
) -> WebhookReceived:
    """TikTok Lead Generation's webhook: one lead, or an array of up to 100, signed within 5
    minutes of now (401 unsigned, 403 wrong or stale; nothing stored)."""
    verified = partial(signed.verified_tiktok_leads, header=tiktok_signature)
    return await _receive(request, IntegrationProvider.tiktok, integration_id, verified)


@router.post(
    "/generic/{integration_id}",
    summary="Receive signed leads from any source (public)",
    openapi_extra=_json_body(_SIGNED_BODY, _SIGNED_EXAMPLE),
    responses=_ERRORS,
)
async def receive_signed_leads(
    integration_id: IntegrationID,
    request: Request,
    x_sen_timestamp: Annotated[
        str | None,
        Header(max_length=20, description="The Unix time it was signed: within 5 minutes."),
    ] = None,
    x_sen_signature: Annotated[
        str | None,
        Header(
            max_length=500,
            description="`sha256=` + hex HMAC-SHA256 of `<X-Sen-Timestamp>.<body>`.",
        ),
    ] = None,
) -> WebhookReceived:
    """For landing-page builders, Zalo forms and scripts: one lead, or an array of up to 100,
    as JSON signed with the integration's secret (401 unsigned, 403 wrong or stale; nothing
    stored)."""
    verified = partial(
        signed.verified_generic_leads, timestamp=x_sen_timestamp, signature=x_sen_signature
    )
    return await _receive(request, IntegrationProvider.generic, integration_id, verified)
