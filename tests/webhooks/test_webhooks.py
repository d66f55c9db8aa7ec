"""Webhook subscriptions over the API: admins and owners only, the URL checked, the signing
secret shown once (on create and on rotation) and never read back, soft delete like every
record, and another workspace's webhook a 404."""

import re

import httpx
import pytest

from tests.conftest import World, settings_changed
from tests.factories import API
from tests.webhooks.helpers import make_webhook

URL = "https://hooks.minhphat.vn/sen"
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")  # base64 of 32 bytes


class TestCreate:
    async def test_the_answer_carries_the_secret_once(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_webhook(client, world.admin.headers, URL, events=["lead.created", "*"])

        assert SECRET.match(made["secret"])
        assert (made["url"], made["events"], made["active"]) == (URL, ["lead.created", "*"], True)
        assert (made["failing_since"], made["disabled_reason"]) == (None, None)

    async def test_the_secret_never_reads_back(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_webhook(client, world.admin.headers, URL)
        path = f"{API}/webhooks/{made['id']}"

        answers = [
            await client.get(path, headers=world.admin.headers),
            await client.get(f"{API}/webhooks", headers=world.owner.headers),
            await client.get(f"{path}/history", headers=world.admin.headers),
            await client.patch(path, json={"active": False}, headers=world.admin.headers),
        ]

        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert made["secret"] not in answer.text
            assert made["secret"].removeprefix("whsec_") not in answer.text
        assert "secret" not in answers[0].json()
        assert [w["id"] for w in answers[1].json()["data"]] == [made["id"]]

    async def test_each_webhook_gets_its_own_secret(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_webhook(client, world.admin.headers, URL)
        second = await make_webhook(client, world.admin.headers, URL)

        assert first["secret"] != second["secret"]

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:9000/hook",
            "http://10.0.0.5/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/hook",
            "http://localhost/hook",
            "ftp://hooks.minhphat.vn/x",
        ],
    )
    async def test_a_url_it_may_not_send_to_is_a_422(
        self, client: httpx.AsyncClient, world: World, url: str
    ) -> None:
        response = await client.post(
            f"{API}/webhooks", json={"url": url, "events": ["*"]}, headers=world.admin.headers
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "url"

    async def test_a_private_address_is_taken_when_the_server_allows_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        with settings_changed(webhook_allow_private=True):
            made = await make_webhook(client, world.admin.headers, "http://127.0.0.1:9000/hook")

        assert made["url"] == "http://127.0.0.1:9000/hook"

    @pytest.mark.parametrize("events", [[], ["lead"], ["Lead.Created"], ["lead.*.x"], ["**"]])
    async def test_events_must_be_names_or_wildcards(
        self, client: httpx.AsyncClient, world: World, events: list[str]
    ) -> None:
        response = await client.post(
            f"{API}/webhooks", json={"url": URL, "events": events}, headers=world.admin.headers
        )

        assert response.status_code == 422


class TestWhoMay:
    @pytest.mark.parametrize("role", ["manager", "sales"])
    async def test_only_admins_and_owners_read_or_write(
        self, client: httpx.AsyncClient, world: World, role: str
    ) -> None:
        made = await make_webhook(client, world.owner.headers, URL)
        headers = getattr(world, role).headers

        answers = [
            await client.get(f"{API}/webhooks", headers=headers),
            await client.get(f"{API}/webhooks/{made['id']}", headers=headers),
            await client.get(f"{API}/webhooks/{made['id']}/deliveries", headers=headers),
            await client.post(
                f"{API}/webhooks", json={"url": URL, "events": ["*"]}, headers=headers
            ),
        ]

        assert [a.status_code for a in answers] == [403, 403, 403, 403]

    async def test_another_workspaces_webhook_is_a_404(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_webhook(client, world.other_owner.headers, URL)

        path, headers = f"{API}/webhooks/{made['id']}", world.owner.headers
        answers = [
            await client.get(path, headers=headers),
            await client.get(f"{path}/deliveries", headers=headers),
            await client.post(f"{path}/rotate-secret", headers=headers),
        ]
        listed = await client.get(f"{API}/webhooks", headers=headers)

        assert [a.status_code for a in answers] == [404, 404, 404]
        assert made["id"] not in listed.text


class TestChange:
    async def test_rotating_shows_a_new_secret_once(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_webhook(client, world.admin.headers, URL)

        rotated = await client.post(
            f"{API}/webhooks/{made['id']}/rotate-secret", headers=world.admin.headers
        )
        history = await client.get(
            f"{API}/webhooks/{made['id']}/history", headers=world.admin.headers
        )

        assert rotated.status_code == 200, rotated.text
        assert SECRET.match(rotated.json()["secret"])
        assert rotated.json()["secret"] != made["secret"]
        assert rotated.json()["version"] == made["version"] + 1
        assert rotated.json()["secret"] not in history.text
        changed = history.json()["data"][-1]["changes"]
        assert changed == {"secret": {"old": "***", "new": "***"}}

    async def test_a_patch_checks_the_url_again(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_webhook(client, world.admin.headers, URL)

        response = await client.patch(
            f"{API}/webhooks/{made['id']}",
            json={"url": "http://192.168.1.1/hook"},
            headers=world.admin.headers,
        )

        assert response.status_code == 422

    async def test_delete_and_restore(self, client: httpx.AsyncClient, world: World) -> None:
        made = await make_webhook(client, world.admin.headers, URL)
        path = f"{API}/webhooks/{made['id']}"

        deleted = await client.delete(path, headers=world.admin.headers)
        listed = await client.get(f"{API}/webhooks", headers=world.admin.headers)
        restored = await client.post(f"{path}/restore", headers=world.admin.headers)

        assert deleted.status_code == 204
        assert made["id"] not in listed.text
        assert restored.status_code == 200
        assert restored.json()["deleted_at"] is None
