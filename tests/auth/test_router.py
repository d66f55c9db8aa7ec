"""Sign-up, login, tokens and API keys."""

import httpx
import pytest

from app.core.settings import get_settings
from tests.conftest import PASSWORD, World, sign_up


class TestSignupAndLogin:
    async def test_signup_creates_a_workspace_whose_owner_is_signed_in(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await sign_up(client, "Xe Tải Hùng")

        me = await client.get("/api/v1/me", headers=account["headers"])
        statuses = await client.get("/api/v1/lead-statuses", headers=account["headers"])

        assert me.status_code == 200
        assert me.json()["user"]["role"] == "owner"
        assert me.json()["workspace"]["name"] == "Xe Tải Hùng"
        assert [s["key"] for s in statuses.json()["data"]] == [
            "raw", "new", "contacted", "unreachable", "wrong_target", "potential", "hot",
            "converted", "disqualified",
        ]  # fmt: skip
        assert statuses.json()["data"][1]["labels"] == {"vi": "Mới", "en": "New"}

    async def test_password_login_returns_a_bearer_token(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            "/api/v1/auth/token", data={"username": "SALES@a.vn", "password": PASSWORD}
        )

        assert response.status_code == 200
        assert response.json()["token_type"] == "bearer"
        me = await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
        )
        assert me.json()["user"]["id"] == str(world.sales.user_id)

    @pytest.mark.parametrize("username", ["sales@a.vn", "nobody@a.vn"])
    async def test_wrong_password_or_unknown_email_is_401(
        self, client: httpx.AsyncClient, world: World, username: str
    ) -> None:
        response = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": "wrong-password"}
        )

        assert response.status_code == 401
        assert response.json()["code"] == "wrong_credentials"

    async def test_signup_can_be_turned_off(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "signup_enabled", False)

        response = await client.post(
            "/api/v1/auth/signup",
            json={"workspace_name": "X", "email": "x@x.vn", "password": PASSWORD, "full_name": "X"},
        )

        assert response.status_code == 403
        assert response.json()["code"] == "signup_disabled"

    async def test_a_forged_token_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/me", headers={"Authorization": "Bearer abc.def.ghi"})

        assert response.status_code == 401

    async def test_a_deactivated_user_is_signed_out(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await client.patch(
            f"/api/v1/users/{world.teammate.user_id}",
            json={"is_active": False},
            headers=world.admin.headers,
        )

        response = await client.get("/api/v1/me", headers=world.teammate.headers)

        assert response.status_code == 401


class TestApiKeys:
    async def test_key_is_shown_once_acts_as_its_user_and_revokes_at_once(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        created = await client.post(
            "/api/v1/api-keys", json={"name": "Website"}, headers=world.sales.headers
        )
        key = created.json()["key"]
        key_headers = {"Authorization": f"Bearer {key}"}

        listed = await client.get("/api/v1/api-keys", headers=world.sales.headers)
        me = await client.get("/api/v1/me", headers=key_headers)
        lead = await client.post("/api/v1/leads", json={"full_name": "Từ web"}, headers=key_headers)
        revoked = await client.delete(
            f"/api/v1/api-keys/{created.json()['id']}", headers=world.sales.headers
        )
        after = await client.get("/api/v1/me", headers=key_headers)

        assert created.status_code == 201
        assert key.startswith(f"{created.json()['prefix']}_")
        assert "key" not in listed.json()["data"][0]
        assert me.json()["user"]["id"] == str(world.sales.user_id)
        assert lead.json()["owner_id"] == str(world.sales.user_id)
        assert revoked.status_code == 204
        assert after.status_code == 401

    async def test_the_prefix_shown_is_how_the_key_begins(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        created = await client.post(
            "/api/v1/api-keys", json={"name": "Zalo sync"}, headers=world.sales.headers
        )
        listed = await client.get("/api/v1/api-keys", headers=world.sales.headers)

        key, prefix = created.json()["key"], created.json()["prefix"]
        assert key.startswith(prefix)
        assert prefix.startswith("sen_")
        assert len(prefix) == len("sen_") + 12
        shown = next(k for k in listed.json()["data"] if k["id"] == created.json()["id"])
        assert shown["prefix"] == prefix

    async def test_a_made_up_key_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/api/v1/me", headers={"Authorization": "Bearer sen_0123456789ab_nope"}
        )

        assert response.status_code == 401

    async def test_sales_cannot_revoke_someone_elses_key(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        created = await client.post(
            "/api/v1/api-keys", json={"name": "Mine"}, headers=world.teammate.headers
        )

        response = await client.delete(
            f"/api/v1/api-keys/{created.json()['id']}", headers=world.sales.headers
        )

        assert response.status_code == 404
