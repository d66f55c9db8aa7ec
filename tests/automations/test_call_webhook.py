"""A workflow's `call_webhook` posts the record to one of the workspace's webhooks, signed with
its secret (a real receiver on 127.0.0.1 verifies it with `standardwebhooks`); a failing
answer is a failed try, and the retry carries the same `webhook-id`."""

from datetime import timedelta

import httpx
import pytest

from app.automations import runner
from tests.conftest import World, settings_changed, sign_up
from tests.factories import API, make_lead
from tests.webhooks.receivers import Receiver
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")


async def test_the_record_reaches_the_webhook_signed_once_after_a_failed_try(
    committing_client: httpx.AsyncClient,
    receiver: Receiver,
    database_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "RETRY_DELAYS", (timedelta(0),) * 2)
    http = committing_client
    headers = (await sign_up(http, "committing-automations-webhook"))["headers"]
    receiver.reset(500, 200)
    with settings_changed(webhook_allow_private=True):
        hook = await http.post(
            f"{API}/webhooks",
            json={"url": receiver.url, "events": ["deal.won"], "description": "Kế toán"},
            headers=headers,
        )
        assert hook.status_code == 201, hook.text
        receiver.secret = hook.json()["secret"]
        body = {
            "name": "Báo lead mới cho kế toán",
            "active": True,
            "resource": "lead",
            "trigger": {"type": "event", "event": "lead.created"},
            "actions": [{"type": "call_webhook", "webhook_id": hook.json()["id"]}],
        }
        made = await http.post(f"{API}/automations", json=body, headers=headers)
        assert made.status_code == 201, made.text
        lead = await make_lead(http, headers, full_name="Nguyễn Văn Ánh")

        async def completed() -> bool:
            runs = await http.get(f"{API}/automations/{made.json()['id']}/runs", headers=headers)
            return [r["status"] for r in runs.json()["data"]] == ["completed"]

        async with running_worker(database_url, redis_url):
            assert await eventually(completed, seconds=20), receiver.received

    assert [r.answered for r in receiver.received] == [500, 200]
    assert all(r.verified for r in receiver.received)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    (accepted,) = receiver.accepted
    assert accepted.payload["type"] == "automation.called"
    assert accepted.payload["data"]["record"]["id"] == lead["id"]
    assert accepted.payload["data"]["record"]["full_name"] == "Nguyễn Văn Ánh"


async def test_a_webhook_that_is_not_the_workspaces_is_a_422(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {
        "name": "x",
        "resource": "lead",
        "trigger": {"type": "event", "event": "lead.created"},
        "actions": [{"type": "call_webhook", "webhook_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f"}],
    }
    response = await client.post(f"{API}/automations", json=body, headers=world.admin.headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["actions.0.webhook_id"]
