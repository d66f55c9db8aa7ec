"""Integrations: connections to ad platforms and other sources that sign their webhooks. Their
settings checked per provider, secrets never read back, the public lookup a webhook starts
with, and a backfill of Meta leads the webhooks missed. The only place that writes them."""

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.service import CAMPAIGNS
from app.core import records
from app.core.context import Ctx
from app.core.db import acting_for_the_public, look_up_before_workspace
from app.core.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from app.core.events import emit
from app.core.pagination import Page, equals
from app.core.records import Patched, Resource
from app.core.settings import get_settings
from app.forms import service as forms_service
from app.intake import receiving as intake_receiving
from app.integrations import meta
from app.integrations.models import Integration
from app.integrations.payloads import Delivered
from app.integrations.schemas import (
    CONFIGS,
    MASK,
    Backfill,
    BackfillRead,
    IntegrationCreate,
    IntegrationProvider,
    IntegrationQuery,
    IntegrationRead,
    IntegrationUpdate,
)

WEBHOOK_PATH = "/api/v1/intake/"
MIN_SIGNING_SECRET = 16
MAX_BACKFILL_DAYS = 90
MAX_BACKFILL_LEADS = 5_000
SECRETS = frozenset(name for config in CONFIGS.values() for name in config.secrets)


class IntegrationNotFound(NotFound):
    code, title = "integration_not_found", "Integration not found"


class BackfillUnsupported(Conflict):
    code, title = "backfill_unsupported", "Only a Meta integration can be backfilled"


class GraphRefused(Conflict):
    code, title = "graph_refused", "Meta's Graph API refused the request"


class GraphUnavailable(ServiceUnavailable):
    code, title = "graph_unavailable", "Meta's Graph API does not answer"


def webhook_url(provider: str, integration_id: uuid.UUID) -> str:
    return f"{get_settings().public_base_url()}{WEBHOOK_PATH}{provider}/{integration_id}"


def _masked(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: MASK if k in SECRETS and v is not None else v for k, v in config.items()}


def _redact(field: str, value: Any) -> Any:
    """History keeps what changed in a config, never a secret."""
    return _masked(value) if field == "config" and isinstance(value, dict) else value


_STORED = [name for name in IntegrationRead.model_fields if name in Integration.__table__.c]


def _read(stored: Mapping[str, Any]) -> IntegrationRead:
    """An integration as it reads: its columns, secrets masked, and its webhook's URL."""
    provider = IntegrationProvider(stored["provider"])
    return IntegrationRead.model_validate(
        {
            **{name: stored[name] for name in _STORED},
            "config": CONFIGS[provider].model_validate(_masked(stored["config"])),
            "webhook_url": webhook_url(provider, stored["id"]),
        }
    )


async def _present(ctx: Ctx, integration: Integration) -> IntegrationRead:
    return _read({name: getattr(integration, name) for name in _STORED})


INTEGRATIONS = Resource(
    model=Integration,
    name="integration",
    read=IntegrationRead,
    query=IntegrationQuery,
    not_found=IntegrationNotFound,
    filters={
        "provider": equals("provider"),
        "active": equals("active"),
        "campaign_id": equals("campaign_id"),
    },
    history=("provider", "name", "config", "campaign_id", "active"),
    present=_present,
    redact=_redact,
)


async def list_integrations(ctx: Ctx, query: IntegrationQuery) -> Page[IntegrationRead]:
    """A page of the workspace's integrations, secrets masked, each with its webhook URL."""
    rows = await records.list_page(ctx, INTEGRATIONS, query)
    return Page[IntegrationRead](
        data=[_read(row) for row in rows.data], next_cursor=rows.next_cursor
    )


async def _checked_config(
    ctx: Ctx,
    provider: IntegrationProvider,
    sent: dict[str, Any],
    *,
    stored: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provider's settings as they will be stored: a secret sent as `***` is the stored
    one (on create there is none: 422), the rest checked by the provider's model and the
    mapping's targets against the lead's fields (422 naming `config.<field>`)."""
    model = CONFIGS[provider]
    values = dict(sent)
    errors = []
    for name in model.secrets:
        if values.get(name) == MASK:
            if stored is not None and stored.get(name):
                values[name] = stored[name]
            else:
                errors.append({"field": f"config.{name}", "message": "send the secret itself"})
    try:
        config = model.model_validate(values).model_dump(mode="json")
    except ValidationError as error:
        errors += [
            {
                "field": ".".join(("config", *(str(p) for p in e["loc"]))),
                "message": str(e["msg"]).removeprefix("Value error, "),
            }
            for e in error.errors()
        ]
        raise Unprocessable(errors)
    secret = sent.get("secret")
    if isinstance(secret, str) and secret != MASK and len(secret) < MIN_SIGNING_SECRET:
        message = f"at least {MIN_SIGNING_SECRET} characters"
        errors.append({"field": "config.secret", "message": message})
    if errors:
        raise Unprocessable(errors)
    await forms_service.check_mapping(ctx, config["mapping"], field="config.mapping")
    return config


async def create_integration(ctx: Ctx, data: IntegrationCreate) -> Integration:
    """Its settings checked against its provider's (422 naming the field); its campaign must
    be one of the workspace's."""
    if data.campaign_id is not None:
        await records.referenced(ctx, CAMPAIGNS, data.campaign_id, field="campaign_id")
    values: dict[str, Any] = data.model_dump(mode="json")
    values["campaign_id"] = data.campaign_id
    values["config"] = await _checked_config(ctx, data.provider, data.config)
    return await records.create(ctx, INTEGRATIONS, values)


async def update_integration(
    ctx: Ctx, integration_id: uuid.UUID, data: IntegrationUpdate, *, if_match: str | None
) -> Patched[Integration]:
    """Only the fields sent change; a `config` sent replaces the stored one, its `***`
    secrets kept."""

    async def rules(integration: Integration, values: dict[str, Any]) -> dict[str, Any]:
        if "config" in values:
            provider = IntegrationProvider(integration.provider)
            values["config"] = await _checked_config(
                ctx, provider, values["config"], stored=integration.config
            )
        campaign_id = values.get("campaign_id")
        if campaign_id is not None and campaign_id != integration.campaign_id:
            await records.referenced(ctx, CAMPAIGNS, campaign_id, field="campaign_id")
        return values

    values = data.model_dump(exclude_unset=True)
    return await records.patch(
        ctx, INTEGRATIONS, integration_id, values, if_match=if_match, rules=rules
    )


async def locate_integration(
    session: AsyncSession, integration_id: uuid.UUID
) -> tuple[uuid.UUID, str] | None:
    """The (workspace, provider) of a live, active integration. Read as the credential role
    before any workspace is known, in a transaction of its own (as `locate_form`)."""
    found = await look_up_before_workspace(
        session,
        select(Integration.workspace_id, Integration.provider).where(
            Integration.id == integration_id,
            Integration.active.is_(True),
            Integration.deleted_at.is_(None),
        ),
    )
    return (found[0].workspace_id, found[0].provider) if found else None


async def public_integration(
    session: AsyncSession, provider: IntegrationProvider, integration_id: uuid.UUID
) -> tuple[Ctx, Integration]:
    """The live, active integration of `provider` a webhook names, with a context in its
    workspace for what the platform may do there (store leads); 404 otherwise."""
    located = await locate_integration(session, integration_id)
    if located is not None and located[1] == provider:
        ctx = await acting_for_the_public(session, located[0])
        found = await records.find_visible(ctx, Integration, integration_id)
        if found is not None and found.active and found.provider == provider:
            return ctx, found
    raise IntegrationNotFound(f"No active {provider} integration has this id")


def _graph_failure(fetched: meta.Fetched) -> Exception:
    reason = fetched.error or "Meta's Graph API failed"
    if fetched.transient:
        return GraphUnavailable(reason, retry_after=60)
    return GraphRefused(reason)


async def backfill(
    ctx: Ctx, integration_id: uuid.UUID, data: Backfill, http: httpx.AsyncClient
) -> BackfillRead:
    """Read a Meta integration's lead forms for leads created in [from, to) and store those
    not received yet, as its webhook would have: an outage longer than Meta's retries loses
    nothing. Graph down or slow is a 503 `graph_unavailable`, a token or form it refuses a
    409 `graph_refused`; at most 5,000 leads a call (`truncated` says there were more)."""
    integration = await records.get(ctx, INTEGRATIONS, integration_id)
    if integration.provider != IntegrationProvider.meta:
        raise BackfillUnsupported(f"A {integration.provider} integration has no leads to read")
    errors = []
    if data.to <= data.from_:
        errors.append({"field": "to", "message": "after `from`"})
    elif data.to - data.from_ > timedelta(days=MAX_BACKFILL_DAYS):
        errors.append({"field": "to", "message": f"at most {MAX_BACKFILL_DAYS} days after `from`"})
    form_ids = data.form_ids or integration.config.get("form_ids") or []
    if not form_ids:
        message = "name the lead forms to read, here or in the integration's config"
        errors.append({"field": "form_ids", "message": message})
    if errors:
        raise Unprocessable(errors)
    token = integration.config["page_access_token"]
    context = {"backfill": {"from": data.from_.isoformat(), "to": data.to.isoformat()}}
    delivered: list[Delivered] = []
    truncated = False
    for form_id in form_ids:
        room = MAX_BACKFILL_LEADS - len(delivered)
        if room <= 0:
            truncated = True
            break
        found = await meta.fetch_form_leads(
            http, form_id, token, since=data.from_, until=data.to, at_most=room
        )
        if found.error is not None:
            raise _graph_failure(found.error)
        delivered += [meta.delivered_from_graph(lead, context) for lead in found.leads]
        truncated = truncated or found.truncated
    received = await intake_receiving.receive_platform_leads(ctx, integration, delivered)
    done = BackfillRead(
        fetched=len(delivered),
        stored=len(delivered) - received.redelivered,
        redelivered=received.redelivered,
        truncated=truncated,
    )
    ran = {**context["backfill"], **done.model_dump(by_alias=True)}
    emit(ctx, "integration.backfilled", INTEGRATIONS.name, integration.id, ran)
    return done
