"""The worker's side of a delivery: claim it (row lock; only if it is still due), send one
attempt holding no transaction, record how it went and when it is tried next. A job run twice,
or beside another, sends nothing more: the claim moves the delivery's next attempt past the
attempt's whole time, so a second claim finds it not due. A worker killed mid-attempt leaves it
pending, and the every-minute sweep hands it back once that time has passed: a receiver may see
a message twice (the same `webhook-id`, as Standard Webhooks expect), never lose one."""

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import records
from app.core.context import Ctx
from app.core.jobs import enqueue_after_commit, job_context
from app.core.models import utcnow
from app.core.settings import get_settings
from app.webhooks.addresses import Resolver, system_resolver
from app.webhooks.models import Webhook, WebhookDelivery
from app.webhooks.sending import Attempt, post
from app.webhooks.service import SEND_JOB, WEBHOOKS

# A claimed attempt's slack past its timeout before the sweep may take it for lost.
CLAIM_SLACK = timedelta(seconds=60)
# A delivery due this long without being sent lost its nudge (Redis down, a job dropped).
SWEEP_AFTER = timedelta(seconds=30)
JITTER = 0.2  # each pause is ±20 %: receivers back from an outage don't get every retry at once


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    url: str
    secret: str
    message_id: str
    body: bytes
    attempt: int


async def _locked(ctx: Ctx, delivery_id: uuid.UUID, *, skip_locked: bool) -> WebhookDelivery | None:
    return await ctx.session.scalar(
        select(WebhookDelivery)
        .where(WebhookDelivery.workspace_id == ctx.workspace_id, WebhookDelivery.id == delivery_id)
        .with_for_update(skip_locked=skip_locked)
    )


async def claim(ctx: Ctx, delivery_id: uuid.UUID, *, now: datetime) -> Claimed | None:
    """The delivery's next attempt, if it is due and no one else holds it (None otherwise).
    One whose webhook was switched off or deleted meanwhile ends `failed`, unsent."""
    delivery = await _locked(ctx, delivery_id, skip_locked=True)
    if delivery is None or delivery.status != "pending":
        return None
    if delivery.next_attempt_at is None or delivery.next_attempt_at > now:
        return None
    webhook = await ctx.session.get(Webhook, (ctx.workspace_id, delivery.webhook_id))
    if webhook is None or webhook.deleted_at is not None or not webhook.active:
        delivery.status = "failed"
        delivery.next_attempt_at = None
        delivery.last_error = "not sent: the webhook is switched off or deleted"
        delivery.updated_at = now
        await ctx.session.flush()
        return None
    delivery.attempts += 1
    timeout = timedelta(seconds=get_settings().webhook_timeout_seconds)
    delivery.next_attempt_at = now + timeout + CLAIM_SLACK
    delivery.updated_at = now
    await ctx.session.flush()
    return Claimed(
        delivery_id=delivery.id,
        webhook_id=webhook.id,
        url=webhook.url,
        secret=webhook.secret,
        message_id=delivery.message_id,
        body=orjson.dumps(delivery.payload),
        attempt=delivery.attempts,
    )


def retry_pause(failures: int, schedule: list[float]) -> timedelta | None:
    """The pause after the `failures`-th failed attempt in a row (None: no retry is left)."""
    if failures > len(schedule):
        return None
    seconds = schedule[failures - 1]
    return timedelta(seconds=seconds * random.uniform(1 - JITTER, 1 + JITTER))


async def record(ctx: Ctx, claimed: Claimed, attempt: Attempt, *, now: datetime) -> str:
    """Keep how the attempt went and decide what comes next: delivered; a retry after the
    schedule's next pause; `failed` when none is left (the webhook flagged `failing_since`)
    or its receiver answered 410 Gone (the webhook switched off). An attempt overtaken by a
    redelivery is not recorded (the newer one will be)."""
    delivery = await _locked(ctx, claimed.delivery_id, skip_locked=False)
    if delivery is None or delivery.attempts != claimed.attempt or delivery.status != "pending":
        return "overtaken"
    delivery.last_attempt_at = now
    delivery.last_status_code = attempt.status_code
    delivery.last_latency_ms = attempt.latency_ms
    delivery.last_error = attempt.error
    delivery.last_response_body = attempt.response_body
    delivery.updated_at = now
    webhook_change: dict[str, Any] = {}
    webhook = await records.find_visible(
        ctx, Webhook, claimed.webhook_id, include_deleted=True, for_update=True
    )
    if attempt.succeeded:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        if webhook is not None and webhook.failing_since is not None:
            webhook_change = {"failing_since": None}
    elif attempt.status_code == 410:
        delivery.status, delivery.next_attempt_at = "failed", None
        reason = f"Its receiver answered 410 Gone at {now.isoformat(timespec='seconds')}"
        webhook_change = {"active": False, "disabled_reason": reason}
    else:
        delivery.failures += 1
        pause = retry_pause(delivery.failures, get_settings().webhook_retry_seconds)
        if pause is None:
            delivery.status, delivery.next_attempt_at = "failed", None
            if webhook is not None and webhook.failing_since is None:
                webhook_change = {"failing_since": now}
        else:
            delivery.next_attempt_at = now + pause
            job_id = f"webhook:{delivery.id}:{delivery.attempts}"
            enqueue_after_commit(
                ctx,
                SEND_JOB,
                str(ctx.workspace_id),
                str(delivery.id),
                job_id=job_id,
                defer_until=delivery.next_attempt_at,
            )
    await ctx.session.flush()
    if webhook_change and webhook is not None and webhook.deleted_at is None:
        await records.apply_patch(ctx, WEBHOOKS, webhook, webhook_change)
    return delivery.status


async def send_delivery(
    maker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    delivery_id: uuid.UUID,
    *,
    http: httpx.AsyncClient,
    queue: ArqRedis | None,
    resolve: Resolver = system_resolver,
) -> str:
    """One attempt at a delivery if it is due: claimed in one transaction, sent with none
    open, recorded in another."""
    async with job_context(maker, workspace_id, queue=queue) as job:
        claimed = await claim(job, delivery_id, now=utcnow())
    if claimed is None:
        return "not due"
    settings = get_settings()
    attempt = await post(
        http,
        claimed.url,
        secret=claimed.secret,
        message_id=claimed.message_id,
        body=claimed.body,
        allow_private=settings.webhook_allow_private,
        time_limit=settings.webhook_timeout_seconds,
        max_response_bytes=settings.webhook_response_bytes,
        resolve=resolve,
    )
    async with job_context(maker, workspace_id, queue=queue) as job:
        return await record(job, claimed, attempt, now=utcnow())


async def requeue_due(ctx: Ctx, *, now: datetime, limit: int = 500) -> int:
    """The sweep's half: pending deliveries due a while ago (their nudge was lost, or their
    worker died mid-attempt) are handed to the worker again."""
    due = list(
        await ctx.session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.workspace_id == ctx.workspace_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now - SWEEP_AFTER,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    stamp = now.timestamp()
    for delivery_id in due:
        enqueue_after_commit(
            ctx,
            SEND_JOB,
            str(ctx.workspace_id),
            str(delivery_id),
            job_id=f"webhook:{delivery_id}:sweep:{stamp}",
        )
    return len(due)
