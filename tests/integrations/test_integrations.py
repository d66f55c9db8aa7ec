"""/integrations: an admin connects a platform with its provider's settings, checked field by
field; secrets are written, never read back (`***`, in lists, reads and history), and a PATCH
that sends `***` keeps them."""

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.transaction import AUTH_ROLE, state_of
from tests.conftest import World
from tests.factories import API, META_CONFIG, make_campaign, make_custom_field, make_integration
from tests.integrations.platforms import SIGNING_SECRET, leadgen, post_meta

SECRET_VALUES = [
    str(META_CONFIG["app_secret"]),
    str(META_CONFIG["verify_token"]),
    str(META_CONFIG["page_access_token"]),
    SIGNING_SECRET,
    "khoa-google-123456",
]
PROVIDERS: list[tuple[str, dict[str, Any]]] = [
    ("meta", META_CONFIG),
    ("google", {"google_key": "khoa-google-123456"}),
    ("tiktok", {"secret": SIGNING_SECRET}),
    ("generic", {"secret": SIGNING_SECRET, "source": "zalo", "id_field": "data.id"}),
]


def assert_no_secret_in(text: str) -> None:
    assert [value for value in SECRET_VALUES if value in text] == []


class TestConnecting:
    @pytest.mark.parametrize(("provider", "config"), PROVIDERS)
    async def test_an_admin_connects_each_provider_and_gets_its_webhook_url(
        self, client: httpx.AsyncClient, world: World, provider: str, config: dict[str, Any]
    ) -> None:
        campaign = await make_campaign(client, world.admin.headers)

        response = await client.post(
            f"{API}/integrations",
            json={"provider": provider, "name": "Quảng cáo Tết", "config": config,
                  "campaign_id": campaign["id"]},
            headers=world.admin.headers,
        )  # fmt: skip

        assert response.status_code == 201, response.text
        made = response.json()
        assert made["webhook_url"].endswith(f"/api/v1/intake/{provider}/{made['id']}")
        assert (made["provider"], made["campaign_id"], made["active"]) == (
            provider,
            campaign["id"],
            True,
        )
        assert response.headers["etag"] == '"1"'
        assert_no_secret_in(response.text)

    async def test_secrets_read_as_stars_in_every_answer(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)

        read = await client.get(f"{API}/integrations/{made['id']}", headers=world.sales.headers)
        listed = await client.get(f"{API}/integrations", headers=world.sales.headers)
        history = await client.get(
            f"{API}/integrations/{made['id']}/history", headers=world.admin.headers
        )

        assert read.json()["config"] == {
            "app_secret": "***",
            "verify_token": "***",
            "page_access_token": "***",
            "form_ids": META_CONFIG["form_ids"],
            "mapping": {},
        }
        assert made["id"] in [i["id"] for i in listed.json()["data"]]
        for answer in (read, listed, history):
            assert answer.status_code == 200
            assert_no_secret_in(answer.text)

    async def test_members_read_and_only_admins_write(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)

        create = await client.post(
            f"{API}/integrations",
            json={"provider": "google", "name": "G", "config": {"google_key": "k-12345678"}},
            headers=world.sales.headers,
        )
        patch = await client.patch(
            f"{API}/integrations/{made['id']}",
            json={"active": False},
            headers=world.manager.headers,
        )
        delete = await client.delete(
            f"{API}/integrations/{made['id']}", headers=world.sales.headers
        )
        read = await client.get(f"{API}/integrations/{made['id']}", headers=world.sales.headers)

        assert [create.status_code, patch.status_code, delete.status_code] == [403, 403, 403]
        assert read.status_code == 200


class TestRefusedSettings:
    @pytest.mark.parametrize(
        ("provider", "config", "fields"),
        [
            ("meta", {"app_secret": "s"}, ["config.verify_token", "config.page_access_token"]),
            ("meta", {**META_CONFIG, "google_key": "x"}, ["config.google_key"]),
            ("google", {"google_key": "***"}, ["config.google_key"]),
            ("tiktok", {"secret": "short"}, ["config.secret"]),
            ("generic", {"secret": SIGNING_SECRET, "source": "fax"}, ["config.source"]),
            ("meta", {**META_CONFIG, "form_ids": ["abc"]}, ["config.form_ids.0"]),
            ("google", {"google_key": "k-12345678", "mapping": {"Q1": "salary"}},
             ["config.mapping.Q1"]),
        ],
    )  # fmt: skip
    async def test_settings_that_do_not_fit_the_provider_are_a_422_naming_the_field(
        self,
        client: httpx.AsyncClient,
        world: World,
        provider: str,
        config: dict[str, Any],
        fields: list[str],
    ) -> None:
        response = await client.post(
            f"{API}/integrations",
            json={"provider": provider, "name": "Sai", "config": config},
            headers=world.admin.headers,
        )

        assert response.status_code == 422, response.text
        assert sorted(e["field"] for e in response.json()["errors"]) == sorted(fields)

    async def test_a_mapping_may_name_a_custom_field_of_leads(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        custom = await make_custom_field(client, world.admin.headers)
        config = {"google_key": "k-12345678", "mapping": {"Q1": f"custom_fields.{custom['key']}"}}

        made = await make_integration(client, world.admin.headers, provider="google", config=config)

        assert made["config"]["mapping"] == config["mapping"]

    async def test_another_workspaces_campaign_is_refused(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = await make_campaign(client, world.other_owner.headers)

        response = await client.post(
            f"{API}/integrations",
            json={"provider": "meta", "name": "X", "config": META_CONFIG,
                  "campaign_id": theirs["id"]},
            headers=world.admin.headers,
        )  # fmt: skip

        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["campaign_id"]


class TestUpdating:
    async def test_stars_sent_back_keep_the_stored_secrets(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)
        config = {**made["config"], "form_ids": ["555000111222", "555000111333"]}

        patched = await client.patch(
            f"{API}/integrations/{made['id']}",
            json={"config": config, "name": "Fanpage mới"},
            headers={**world.admin.headers, "If-Match": '"1"'},
        )
        signed_with_the_kept_secret = await post_meta(client, made["id"], leadgen("77001"))

        assert patched.status_code == 200, patched.text
        assert patched.json()["config"]["form_ids"] == config["form_ids"]
        assert patched.json()["version"] == 2
        assert signed_with_the_kept_secret.status_code == 200

    async def test_a_new_secret_replaces_the_old_one(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)
        config = {**made["config"], "app_secret": "bi-mat-moi-2027"}

        await client.patch(
            f"{API}/integrations/{made['id']}", json={"config": config}, headers=world.admin.headers
        )
        old = await post_meta(client, made["id"], leadgen("77002"))
        new = await post_meta(client, made["id"], leadgen("77003"), secret="bi-mat-moi-2027")

        assert (old.status_code, new.status_code) == (403, 200)

    async def test_the_history_says_the_config_changed_without_its_secrets(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)
        config = {**made["config"], "app_secret": "bi-mat-moi-2027", "form_ids": []}
        await client.patch(
            f"{API}/integrations/{made['id']}", json={"config": config}, headers=world.admin.headers
        )

        history = await client.get(
            f"{API}/integrations/{made['id']}/history", headers=world.admin.headers
        )

        change = history.json()["data"][-1]["changes"]["config"]
        assert (change["old"]["form_ids"], change["new"]["form_ids"]) == (
            META_CONFIG["form_ids"],
            [],
        )
        assert change["new"]["app_secret"] == "***"
        assert "bi-mat-moi-2027" not in history.text
        assert_no_secret_in(history.text)

    async def test_an_inactive_or_deleted_integration_takes_no_leads(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        paused = await make_integration(client, world.admin.headers)
        deleted = await make_integration(client, world.admin.headers)
        await client.patch(
            f"{API}/integrations/{paused['id']}",
            json={"active": False},
            headers=world.admin.headers,
        )
        await client.delete(f"{API}/integrations/{deleted['id']}", headers=world.admin.headers)

        answers = [await post_meta(client, i["id"], leadgen("77004")) for i in (paused, deleted)]

        assert [a.status_code for a in answers] == [404, 404]
        assert {a.json()["code"] for a in answers} == {"integration_not_found"}


class TestWebhookLookup:
    async def test_the_lookup_role_reads_where_a_webhook_goes_and_never_its_secrets(
        self, client: httpx.AsyncClient, world: World, session: AsyncSession
    ) -> None:
        made = await make_integration(client, world.admin.headers)
        # The lookup's own transaction, begun as the lookup role as the app begins one
        # (look_up_before_workspace): on Citus a transaction keeps the role it began with.
        await session.commit()
        state_of(session).role, state_of(session).workspace_id = AUTH_ROLE, None

        routed = (
            await session.execute(
                text("SELECT workspace_id, provider FROM integrations WHERE id = :id"),
                {"id": made["id"]},
            )
        ).one()
        with pytest.raises(DBAPIError, match="permission denied"):
            async with session.begin_nested():
                await session.execute(text("SELECT config FROM integrations"))

        assert (str(routed.workspace_id), routed.provider) == (
            str(world.admin.workspace_id),
            "meta",
        )
