"""Outbound webhooks: subscriptions (the URL checked, the secret made here and shown once), the
deliveries an event makes for the subscriptions that want it, their log, and a redelivery by
hand. The only place that writes them; the worker's side of a delivery is delivery.py."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.events import Event, emit, on_events
from app.core.ids import new_id
from app.core.jobs import enqueue_after_commit
from app.core.models import table_of, utcnow
from app.core.pagination import FilterOn, Page, apply_filters, equals, one_of, paginate
from app.core.records import Patched, Resource
from app.core.settings import get_settings
from app.webhooks.addresses import url_errors
from app.webhooks.models import Webhook, WebhookDelivery
from app.webhooks.schemas import (
    DeliveryQuery,
    DeliveryRead,
    WebhookCreate,
    WebhookQuery,
    WebhookRead,
    WebhookUpdate,
)
from app.webhooks.sending import new_secret

SEND_JOB = "send_webhook"
MASK = "***"


class WebhookNotFound(NotFound):
    code, title = "webhook_not_found", "Webhook not found"


class WebhookDeliveryNotFound(NotFound):
    code, title = "webhook_delivery_not_found", "Webhook delivery not found"


class WebhookInactive(Conflict):
    code, title = "webhook_inactive", "The webhook is switched off or deleted"


def _redact(name: str, value: Any) -> Any:
    """History shows that the secret changed, never the secret."""
    return MASK if name == "secret" and value is not None else value


WEBHOOKS = Resource(
    model=Webhook,
    name="webhook",
    read=WebhookRead,
    query=WebhookQuery,
    not_found=WebhookNotFound,
    filters={"active": equals("active")},
    history=("url", "events", "active", "description"),
    redact=_redact,
)


def _check_url(url: str) -> None:
    errors = url_errors(url, allow_private=get_settings().webhook_allow_private)
    if errors:
        raise Unprocessable([{"field": "url", "message": message} for message in errors])


async def list_webhooks(ctx: Ctx, query: WebhookQuery) -> Page[WebhookRead]:
    rows = await records.list_page(ctx, WEBHOOKS, query)
    return rows.page(WebhookRead)


async def create_webhook(ctx: Ctx, data: WebhookCreate) -> Webhook:
    """Its URL checked (422: not http(s), or an address webhooks may not go to); its secret
    made here, `whsec_` + base64 of 32 random bytes."""
    _check_url(data.url)
    values = data.model_dump()
    values["events"] = _unique(data.events)
    values["secret"] = new_secret()
    return await records.create(ctx, WEBHOOKS, values)


def _unique(events: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(events))


async def update_webhook(
    ctx: Ctx, webhook_id: uuid.UUID, data: WebhookUpdate, *, if_match: str | None
) -> Patched[Webhook]:
    """Only the fields sent change; switching it back on clears why it was off and its
    failing flag (its next deliveries say whether the receiver is back)."""

    async def rules(webhook: Webhook, values: dict[str, Any]) -> dict[str, Any]:
        if "url" in values:
            _check_url(values["url"])
        if "events" in values:
            values["events"] = _unique(values["events"])
        if values.get("active") is True and not webhook.active:
            values["disabled_reason"] = None
            values["failing_since"] = None
        return values

    values = data.model_dump(exclude_unset=True)
    return await records.patch(ctx, WEBHOOKS, webhook_id, values, if_match=if_match, rules=rules)


async def rotate_secret(ctx: Ctx, webhook_id: uuid.UUID, *, if_match: str | None) -> Webhook:
    """A new secret signs every attempt from now on, retries of earlier deliveries included;
    the old one stops working at once."""
    patched = await records.patch(
        ctx, WEBHOOKS, webhook_id, {"secret": new_secret()}, if_match=if_match
    )
    return patched.record


class EventLike(Protocol):
    """What a delivery needs of an event: the events core's rows have it (tests make theirs as
    `EventMessage`)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def type(self) -> str: ...
    @property
    def resource(self) -> str: ...
    @property
    def record_id(self) -> uuid.UUID | None: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor_id(self) -> uuid.UUID | None: ...
    @property
    def changes(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class EventMessage:
    id: uuid.UUID
    type: str
    resource: str
    record_id: uuid.UUID | None
    at: datetime
    actor_id: uuid.UUID | None = None
    changes: dict[str, Any] = field(default_factory=dict)


def wants(events: Sequence[str], event_type: str) -> bool:
    """Whether a webhook subscribed to `events` receives `event_type`: by its name, its
    resource's `lead.*`, or `*`."""
    resource = event_type.split(".", 1)[0]
    return any(e == "*" or e == event_type or e == f"{resource}.*" for e in events)


def message_id(event_id: uuid.UUID) -> str:
    return f"msg_{event_id.hex}"


def payload_of(event: EventLike) -> dict[str, Any]:
    """The body of every delivery of `event`: Standard Webhooks' `{type, timestamp, data}`."""
    at = event.at.isoformat().replace("+00:00", "Z")
    return {
        "type": event.type,
        "timestamp": at,
        "data": {
            "id": str(event.id),
            "type": event.type,
            "resource": event.resource,
            "record_id": None if event.record_id is None else str(event.record_id),
            "actor_id": None if event.actor_id is None else str(event.actor_id),
            "at": at,
            "changes": event.changes,
            "position": getattr(event, "position", None),
        },
    }


_DELIVERIES = table_of(WebhookDelivery)


async def schedule_deliveries(
    ctx: Ctx, webhooks: Sequence[Webhook], events: Sequence[EventLike]
) -> int:
    """A delivery of each event to each of `webhooks` that wants it, sent by the worker after
    this transaction commits. An event handed over again adds nothing (one delivery per
    webhook and event). Returns how many were added."""
    now = utcnow()
    rows = [
        {
            "workspace_id": ctx.workspace_id,
            "id": new_id(),
            "webhook_id": webhook.id,
            "event_id": event.id,
            "event_type": event.type,
            "message_id": message_id(event.id),
            "payload": payload_of(event),
            "status": "pending",
            "attempts": 0,
            "failures": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for event in events
        for webhook in webhooks
        if webhook.active and webhook.deleted_at is None and wants(webhook.events, event.type)
    ]
    if not rows:
        return 0
    added = await ctx.session.scalars(
        insert(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["workspace_id", "webhook_id", "event_id"])
        .returning(WebhookDelivery.id)
    )
    ids = list(added)
    for delivery_id in ids:
        _nudge(ctx, delivery_id, f"webhook:{delivery_id}:0")
    return len(ids)


def _nudge(ctx: Ctx, delivery_id: uuid.UUID, job_id: str, at: datetime | None = None) -> None:
    enqueue_after_commit(
        ctx, SEND_JOB, str(ctx.workspace_id), str(delivery_id), job_id=job_id, defer_until=at
    )


async def active_webhooks(ctx: Ctx) -> list[Webhook]:
    return list(
        await ctx.session.scalars(
            select(Webhook).where(
                Webhook.workspace_id == ctx.workspace_id,
                Webhook.active.is_(True),
                Webhook.deleted_at.is_(None),
            )
        )
    )


async def deliver_events(ctx: Ctx, events: Sequence[EventLike]) -> int:
    """The events a transaction committed, handed to every active webhook that wants them."""
    if not events:
        return 0
    webhooks = await active_webhooks(ctx)
    if not webhooks:
        return 0
    return await schedule_deliveries(ctx, webhooks, events)


async def _dispatched(ctx: Ctx, batch: Sequence[Event]) -> None:
    await deliver_events(ctx, batch)


# Each batch the dispatcher numbers, in commit order and in its transaction: the deliveries
# commit with the numbering, or neither does (and the next dispatcher hands them over again).
on_events("webhooks", _dispatched)


_LISTED = [_DELIVERIES.c[name] for name in DeliveryRead.model_fields]
_FILTERS = {"status": one_of("status"), "event_type": equals("event_type")}


async def list_deliveries(
    ctx: Ctx, webhook_id: uuid.UUID, query: DeliveryQuery
) -> Page[DeliveryRead]:
    """A page of a webhook's deliveries, newest first (a deleted webhook's too)."""
    await records.get(ctx, WEBHOOKS, webhook_id, include_deleted=True)
    stmt = select(*_LISTED).where(_DELIVERIES.c.webhook_id == webhook_id)
    stmt = apply_filters(stmt, query, _FILTERS, FilterOn(_DELIVERIES.c, ctx.workspace_id))
    rows = await paginate(ctx, stmt, query, table=_DELIVERIES)
    return rows.page(DeliveryRead)


async def redeliver(ctx: Ctx, delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send a delivery again now, whatever became of it: the same message (`webhook-id` and
    body), signed afresh, with the whole retry schedule ahead of it. Its webhook must be
    active (409 otherwise)."""
    delivery = await ctx.session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.workspace_id == ctx.workspace_id, WebhookDelivery.id == delivery_id)
        .with_for_update()
    )
    if delivery is None:
        raise WebhookDeliveryNotFound()
    webhook = await records.get(ctx, WEBHOOKS, delivery.webhook_id, include_deleted=True)
    if not webhook.active or webhook.deleted_at is not None:
        raise WebhookInactive("Switch the webhook on (or restore it) first")
    now = utcnow()
    delivery.status = "pending"
    delivery.failures = 0
    delivery.next_attempt_at = now
    delivery.updated_at = now
    await ctx.session.flush()
    _nudge(ctx, delivery.id, f"webhook:{delivery.id}:redeliver:{now.timestamp()}")
    redelivered = {"delivery_id": str(delivery.id), "event_type": delivery.event_type}
    emit(ctx, "webhook.redelivered", "webhook", webhook.id, redelivered)
    return delivery
