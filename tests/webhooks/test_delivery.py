"""Deliveries end to end, with real parts: committed webhooks and events, a real arq worker,
and a receiver on 127.0.0.1 that verifies every post with the reference `standardwebhooks`
library. Retries are shrunk to a fraction of a second."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from arq import create_pool
from sqlalchemy import update

from app.core.db import make_engine, make_sessionmaker
from app.core.jobs import job_context, wait_for_sends
from app.core.models import utcnow
from app.core.queue import redis_settings
from app.webhooks import delivery
from app.webhooks.models import WebhookDelivery
from app.webhooks.sending import Attempt, webhook_client
from app.webhooks.service import message_id, wants
from tests.conftest import settings_changed, sign_up
from tests.factories import API
from tests.webhooks.helpers import deliveries, hand_over, lead_event, make_webhook
from tests.webhooks.receivers import Listener, Receiver
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")


@dataclass
class Workspace:
    http: httpx.AsyncClient
    owner: dict[str, Any]
    database_url: str
    redis_url: str

    @property
    def headers(self) -> dict[str, str]:
        return self.owner["headers"]  # type: ignore[no-any-return]

    async def webhook(self, url: str, **fields: object) -> dict[str, Any]:
        return await make_webhook(self.http, self.headers, url, **fields)

    async def hand_over(self, *events: Any, nudge: bool = True) -> int:
        return await hand_over(
            self.database_url, self.redis_url, self.owner["workspace_id"], *events, nudge=nudge
        )

    async def deliveries(self, webhook_id: str) -> list[dict[str, Any]]:
        return await deliveries(self.http, self.headers, webhook_id)

    async def read(self, webhook_id: str) -> dict[str, Any]:
        response = await self.http.get(f"{API}/webhooks/{webhook_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def settled(self, webhook_id: str, count: int = 1, seconds: float = 20) -> list[Any]:
        """The webhook's deliveries once `count` of them are no longer pending."""

        async def done() -> bool:
            found = await self.deliveries(webhook_id)
            return sum(d["status"] != "pending" for d in found) >= count

        async with running_worker(self.database_url, self.redis_url):
            assert await eventually(done, seconds), await self.deliveries(webhook_id)
        return await self.deliveries(webhook_id)


@pytest.fixture
def quick_retries() -> Iterator[None]:
    with settings_changed(
        webhook_allow_private=True,
        webhook_retry_seconds=[0.1, 0.1, 0.1],
        webhook_timeout_seconds=3.0,
    ):
        yield


@pytest_asyncio.fixture
async def workspace(
    committing_client: httpx.AsyncClient, database_url: str, redis_url: str, quick_retries: None
) -> AsyncIterator[Workspace]:
    owner = await sign_up(committing_client, f"committing-webhooks-{uuid.uuid4().hex[:8]}")
    yield Workspace(committing_client, owner, database_url, redis_url)


class TestRetries:
    async def test_two_500s_then_a_200_is_one_accepted_delivery_with_one_webhook_id(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        receiver.reset(500, 500, 200)
        made = await workspace.webhook(receiver.url, events=["lead.created"])
        receiver.secret = made["secret"]
        event = lead_event(full_name="Nguyễn Văn Ánh")

        assert await workspace.hand_over(event) == 1
        (sent,) = await workspace.settled(made["id"])

        assert [r.answered for r in receiver.received] == [500, 500, 200]
        assert all(r.verified for r in receiver.received)
        assert len(receiver.accepted) == 1
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert ids == {message_id(event.id)}
        body = receiver.accepted[0].payload
        assert (body["type"], body["data"]["id"]) == ("lead.created", str(event.id))
        assert body["data"]["changes"] == {"full_name": {"old": None, "new": "Nguyễn Văn Ánh"}}
        assert (sent["status"], sent["attempts"], sent["last_status_code"]) == ("delivered", 3, 200)
        assert sent["message_id"] == message_id(event.id)
        assert sent["last_latency_ms"] >= 0
        assert sent["last_response_body"] == "đã nhận"
        assert sent["payload"] == body

    async def test_out_of_retries_it_fails_and_flags_the_webhook_until_a_redelivery_gets_through(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        receiver.reset(500, 503, 502, 500)  # the first try and all three retries
        made = await workspace.webhook(receiver.url)
        receiver.secret = made["secret"]
        await workspace.hand_over(lead_event("lead.updated"))

        (failed,) = await workspace.settled(made["id"])
        flagged = await workspace.read(made["id"])
        redelivered = await workspace.http.post(
            f"{API}/webhooks/deliveries/{failed['id']}/redeliver", headers=workspace.headers
        )
        (again,) = await workspace.settled(made["id"])
        cleared = await workspace.read(made["id"])

        assert (failed["status"], failed["attempts"], failed["last_status_code"]) == (
            "failed",
            4,
            500,
        )
        assert failed["last_error"] == "answered 500"
        assert flagged["failing_since"] is not None
        assert flagged["active"] is True
        assert redelivered.status_code == 202, redelivered.text
        assert (again["status"], again["attempts"]) == ("delivered", 5)
        assert [r.answered for r in receiver.received] == [500, 503, 502, 500, 200]
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
        assert cleared["failing_since"] is None

    async def test_a_410_switches_the_webhook_off(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        receiver.reset(410)
        made = await workspace.webhook(receiver.url)
        receiver.secret = made["secret"]
        await workspace.hand_over(lead_event())

        (gone,) = await workspace.settled(made["id"])
        webhook = await workspace.read(made["id"])
        later = await workspace.hand_over(lead_event())

        assert (gone["status"], gone["attempts"], gone["last_status_code"]) == ("failed", 1, 410)
        assert len(receiver.received) == 1
        assert webhook["active"] is False
        assert "410" in webhook["disabled_reason"]
        assert later == 0


class TestWhereItGoes:
    async def test_with_the_setting_off_a_receiver_on_127_0_0_1_gets_no_connection(
        self, workspace: Workspace, listener: Listener
    ) -> None:
        made = await workspace.webhook(f"http://127.0.0.1:{listener.port}/hooks/sen")
        await workspace.hand_over(lead_event())

        with settings_changed(webhook_allow_private=False, webhook_retry_seconds=[]):
            (refused,) = await workspace.settled(made["id"])

        assert refused["status"] == "failed"
        assert refused["last_status_code"] is None
        assert "127.0.0.1 is a loopback address" in refused["last_error"]
        assert listener.connections == 0


class TestOnceOnly:
    async def test_two_jobs_for_one_delivery_send_it_once(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        made = await workspace.webhook(receiver.url)
        receiver.secret = made["secret"]
        await workspace.hand_over(lead_event(), nudge=False)
        (pending,) = await workspace.deliveries(made["id"])
        engine = make_engine(workspace.database_url)
        try:
            async with webhook_client() as http:
                runs = [
                    delivery.send_delivery(
                        make_sessionmaker(engine),
                        uuid.UUID(workspace.owner["workspace_id"]),
                        uuid.UUID(pending["id"]),
                        http=http,
                        queue=None,
                    )
                    for _ in range(3)
                ]
                outcomes = await asyncio.gather(*runs)
        finally:
            await engine.dispose()

        assert sorted(outcomes) == ["delivered", "not due", "not due"]
        assert len(receiver.received) == 1

    async def test_an_event_handed_over_twice_is_delivered_once(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        made = await workspace.webhook(receiver.url, events=["lead.*"])
        receiver.secret = made["secret"]
        event = lead_event("lead.converted")

        added = [await workspace.hand_over(event), await workspace.hand_over(event)]
        await workspace.settled(made["id"])

        assert added == [1, 0]
        assert len(receiver.accepted) == 1

    async def test_a_lost_nudge_is_sent_by_the_sweep(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        made = await workspace.webhook(receiver.url)
        receiver.secret = made["secret"]
        await workspace.hand_over(lead_event(), nudge=False)
        engine = make_engine(workspace.database_url)
        queue = await create_pool(redis_settings(workspace.redis_url))
        try:
            maker = make_sessionmaker(engine)
            workspace_id = uuid.UUID(workspace.owner["workspace_id"])
            async with job_context(maker, workspace_id, queue=queue) as ctx:
                early = await delivery.requeue_due(ctx, now=utcnow())
            async with job_context(maker, workspace_id, queue=queue) as ctx:
                late = await delivery.requeue_due(ctx, now=utcnow() + delivery.SWEEP_AFTER)
            await wait_for_sends()
        finally:
            await queue.aclose()
            await engine.dispose()

        (sent,) = await workspace.settled(made["id"])

        assert (early, late) == (0, 1)
        assert (sent["status"], sent["attempts"]) == ("delivered", 1)
        assert len(receiver.accepted) == 1


class TestWhichEvents:
    @pytest.mark.parametrize(
        ("events", "event_type", "wanted"),
        [
            (["lead.created"], "lead.created", True),
            (["lead.created"], "lead.updated", False),
            (["lead.*"], "lead.converted", True),
            (["lead.*"], "deal.won", False),
            (["deal.won", "*"], "account.created", True),
        ],
    )
    def test_names_and_wildcards(self, events: list[str], event_type: str, wanted: bool) -> None:
        assert wants(events, event_type) is wanted

    async def test_only_active_live_webhooks_that_want_the_event_get_a_delivery(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        wanted = await workspace.webhook(receiver.url, events=["deal.*"])
        other = await workspace.webhook(receiver.url, events=["lead.created"])
        off = await workspace.webhook(receiver.url, events=["*"], active=False)
        gone = await workspace.webhook(receiver.url, events=["*"])
        deleted = await workspace.http.delete(
            f"{API}/webhooks/{gone['id']}", headers=workspace.headers
        )

        added = await workspace.hand_over(lead_event("deal.won"), nudge=False)

        assert deleted.status_code == 204
        assert added == 1
        assert len(await workspace.deliveries(wanted["id"])) == 1
        for webhook in (other, off, gone):
            assert await workspace.deliveries(webhook["id"]) == []


class TestSwitchedOff:
    async def test_a_deleted_webhooks_waiting_delivery_ends_failed_unsent(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        made = await workspace.webhook(receiver.url)
        await workspace.hand_over(lead_event())
        deleted = await workspace.http.delete(
            f"{API}/webhooks/{made['id']}", headers=workspace.headers
        )

        (dropped,) = await workspace.settled(made["id"])

        assert deleted.status_code == 204
        assert (dropped["status"], dropped["attempts"]) == ("failed", 0)
        assert "switched off or deleted" in dropped["last_error"]
        assert receiver.received == []

    async def test_a_switched_off_webhooks_delivery_cannot_be_redelivered(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        receiver.reset(410)
        made = await workspace.webhook(receiver.url)
        receiver.secret = made["secret"]
        await workspace.hand_over(lead_event())
        (gone,) = await workspace.settled(made["id"])

        refused = await workspace.http.post(
            f"{API}/webhooks/deliveries/{gone['id']}/redeliver", headers=workspace.headers
        )

        assert refused.status_code == 409
        assert refused.json()["code"] == "webhook_inactive"

    async def test_the_log_filters_by_status_and_event_type(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        made = await workspace.webhook(receiver.url, events=["*"])
        receiver.secret = made["secret"]
        await workspace.hand_over(lead_event("lead.created"), lead_event("deal.won"), nudge=False)

        by_type = await deliveries(
            workspace.http, workspace.headers, made["id"], event_type="deal.won"
        )
        pending = await deliveries(workspace.http, workspace.headers, made["id"], status="pending")
        done = await deliveries(workspace.http, workspace.headers, made["id"], status="delivered")

        assert [d["event_type"] for d in by_type] == ["deal.won"]
        assert len(pending) == 2
        assert done == []


class TestFromTheEventsCore:
    async def test_a_lead_made_over_the_api_reaches_the_receiver_signed_once(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        made = await workspace.webhook(receiver.url, events=["lead.created"])
        receiver.secret = made["secret"]
        lead = await workspace.http.post(
            f"{API}/leads", json={"full_name": "Nguyễn Văn Ánh"}, headers=workspace.headers
        )
        assert lead.status_code == 201, lead.text
        changed = await workspace.http.patch(
            f"{API}/leads/{lead.json()['id']}",
            json={"status": "contacted"},
            headers={**workspace.headers, "If-Match": lead.headers["ETag"]},
        )
        assert changed.status_code == 200, changed.text

        (sent,) = await workspace.settled(made["id"])

        assert (sent["status"], sent["event_type"], sent["attempts"]) == (
            "delivered",
            "lead.created",
            1,
        )
        (seen,) = receiver.accepted
        body = seen.payload
        assert (body["type"], body["data"]["record_id"]) == ("lead.created", lead.json()["id"])
        assert body["data"]["position"] >= 1
        polled = await workspace.http.get(
            f"{API}/events", params={"type": "lead.created"}, headers=workspace.headers
        )
        (event,) = polled.json()["data"]
        assert seen.headers["webhook-id"] == message_id(uuid.UUID(event["id"]))


class TestAWorkerDiesMidAttempt:
    async def test_the_sweep_sends_it_again_once_its_claim_ran_out_and_the_late_result_is_dropped(
        self, workspace: Workspace, receiver: Receiver
    ) -> None:
        made = await workspace.webhook(receiver.url)
        receiver.secret = made["secret"]
        await workspace.hand_over(lead_event(), nudge=False)
        (pending,) = await workspace.deliveries(made["id"])
        engine = make_engine(workspace.database_url)
        queue = await create_pool(redis_settings(workspace.redis_url))
        maker = make_sessionmaker(engine)
        workspace_id, delivery_id = uuid.UUID(workspace.owner["workspace_id"]), pending["id"]
        try:
            # A worker claims the attempt, then dies before it records anything.
            async with job_context(maker, workspace_id, queue=None) as ctx:
                dead = await delivery.claim(ctx, uuid.UUID(delivery_id), now=utcnow())
            async with job_context(maker, workspace_id, queue=queue) as ctx:
                while_claimed = await delivery.requeue_due(ctx, now=utcnow())
            # Its claim runs out (the attempt's time limit and a minute later).
            async with job_context(maker, workspace_id, queue=None) as ctx:
                await ctx.session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.workspace_id == workspace_id,
                        WebhookDelivery.id == uuid.UUID(delivery_id),
                    )
                    .values(next_attempt_at=utcnow() - timedelta(minutes=2))
                )
            async with job_context(maker, workspace_id, queue=queue) as ctx:
                ran_out = await delivery.requeue_due(ctx, now=utcnow())
            await wait_for_sends()
            (sent,) = await workspace.settled(made["id"])
            # The dead worker's attempt comes back late: it is not recorded over the new one.
            async with job_context(maker, workspace_id, queue=None) as ctx:
                assert dead is not None
                late = await delivery.record(
                    ctx, dead, Attempt(500, 10, "answered 500"), now=utcnow()
                )
        finally:
            await queue.aclose()
            await engine.dispose()

        assert dead is not None
        assert (while_claimed, ran_out) == (0, 1)
        assert (sent["status"], sent["attempts"], sent["last_status_code"]) == ("delivered", 2, 200)
        assert late == "overtaken"
        assert len(receiver.accepted) == 1
        assert receiver.accepted[0].headers["webhook-id"] == dead.message_id
        assert (await workspace.deliveries(made["id"]))[0]["status"] == "delivered"
