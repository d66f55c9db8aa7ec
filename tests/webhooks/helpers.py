"""Webhooks as tests make them: through the API, and events handed to them the way the events
core hands each committed batch (`deliver_events` in a job's transaction)."""

import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from arq import create_pool

from app.core.db import make_engine, make_sessionmaker
from app.core.jobs import job_context, wait_for_sends
from app.core.models import utcnow
from app.core.queue import redis_settings
from app.webhooks import service
from app.webhooks.service import EventMessage
from tests.factories import API


async def make_webhook(
    http: httpx.AsyncClient, headers: Mapping[str, str], url: str, **fields: object
) -> dict[str, Any]:
    body = {"url": url, "events": ["lead.*"], "description": "Kế toán"} | fields
    response = await http.post(f"{API}/webhooks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def lead_event(event_type: str = "lead.created", **changes: object) -> EventMessage:
    return EventMessage(
        id=uuid.uuid4(),
        type=event_type,
        resource=event_type.split(".")[0],
        record_id=uuid.uuid4(),
        at=utcnow(),
        changes={k: {"old": None, "new": v} for k, v in changes.items()},
    )


async def hand_over(
    database_url: str,
    redis_url: str,
    workspace_id: str,
    *events: EventMessage,
    nudge: bool = True,
) -> int:
    """Committed events of a workspace handed to its webhooks, their send jobs queued (unless
    not `nudge`: as if Redis had lost them)."""
    engine = make_engine(database_url)
    queue = await create_pool(redis_settings(redis_url))
    try:
        async with job_context(
            make_sessionmaker(engine), uuid.UUID(workspace_id), queue=queue if nudge else None
        ) as ctx:
            added = await service.deliver_events(ctx, list(events))
        await wait_for_sends()
        return added
    finally:
        await queue.aclose()
        await engine.dispose()


async def deliveries(
    http: httpx.AsyncClient, headers: Mapping[str, str], webhook_id: str, **query: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"{API}/webhooks/{webhook_id}/deliveries", params=query, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]
