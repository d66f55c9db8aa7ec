"""Inputs and sequences a careful reviewer found answered 500 or allowed too much: each is now
a clear 4xx (and stays one)."""

import asyncio
import base64
import json

import httpx

from tests.conftest import PASSWORD, World, sign_up

LEADS = "/api/v1/leads"


def _cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


class TestOwnersAreProtected:
    async def test_an_admin_cannot_change_an_owners_password_or_lock_them_out(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        url = f"/api/v1/users/{world.owner.user_id}"
        for body in ({"password": "chiem-quyen-123"}, {"is_active": False}, {"email": "x@a.vn"}):
            response = await client.patch(url, json=body, headers=world.admin.headers)
            assert response.status_code == 403, body

    async def test_the_last_owner_cannot_stop_being_one(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.patch(
            f"/api/v1/users/{world.owner.user_id}",
            json={"role": "sales"},
            headers=world.owner.headers,
        )

        assert response.status_code == 409
        assert response.json()["code"] == "last_owner"

    async def test_a_new_password_signs_out_other_tokens_but_the_one_used(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await sign_up(client, "Mat Khau")
        laptop = await client.post(
            "/api/v1/auth/token", data={"username": account["email"], "password": PASSWORD}
        )
        on_laptop = {"Authorization": f"Bearer {laptop.json()['access_token']}"}
        changed = await client.patch(
            f"/api/v1/users/{account['user_id']}",
            json={"password": "mat-khau-moi-456"},
            headers=account["headers"],
        )
        other_token = await client.get("/api/v1/me", headers=on_laptop)
        own_token = await client.get("/api/v1/me", headers=account["headers"])
        login = await client.post(
            "/api/v1/auth/token",
            data={"username": account["email"], "password": "mat-khau-moi-456"},
        )

        assert changed.status_code == 200
        assert other_token.status_code == 401
        assert own_token.status_code == 200  # the one that made the change
        assert login.status_code == 200


class TestApiKeysCannotManageKeys:
    async def test_an_api_key_cannot_mint_another(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await client.post(
            "/api/v1/api-keys", json={"name": "k"}, headers=world.sales.headers
        )
        key_headers = {"Authorization": f"Bearer {made.json()['key']}"}

        response = await client.post("/api/v1/api-keys", json={"name": "k2"}, headers=key_headers)

        assert response.status_code == 403
        assert response.json()["code"] == "api_key_not_allowed"


class TestBadInputIsA4xx:
    async def test_lone_surrogates_are_422(self, client: httpx.AsyncClient, world: World) -> None:
        response = await client.post(
            LEADS, content=b'{"full_name": "\\ud800"}',
            headers={**world.sales.headers, "content-type": "application/json"},
        )  # fmt: skip

        assert response.status_code == 422

    async def test_a_number_no_client_can_hold_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await client.post(
            "/api/v1/custom-fields",
            json={"resource": "lead", "key": "big", "label": "Big", "type": "number"},
            headers=world.admin.headers,
        )

        response = await client.post(
            LEADS,
            json={"full_name": "A", "custom_fields": {"big": 10**20}},
            headers=world.sales.headers,
        )

        assert response.status_code == 422

    async def test_null_for_a_required_custom_field_setting_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await client.post(
            "/api/v1/custom-fields",
            json={"resource": "lead", "key": "n", "label": "N", "type": "text"},
            headers=world.admin.headers,
        )

        response = await client.patch(
            f"/api/v1/custom-fields/{made.json()['id']}",
            json={"label": None},
            headers=world.admin.headers,
        )

        assert response.status_code == 422

    async def test_a_date_time_outside_what_can_be_stored_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.get(
            LEADS,
            params={"created_after": "0001-01-01T00:00:00+01:00"},
            headers=world.sales.headers,
        )

        assert response.status_code == 422

    async def test_crafted_cursors_are_422(self, client: httpx.AsyncClient, world: World) -> None:
        crafted = [
            ("-created_at", _cursor("-created_at", "2026-11-23T00:00:00+00:00", 1)),
            ("score", _cursor("score", 99999, "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f")),
            ("full_name", _cursor("full_name", "\u0000", "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f")),
        ]
        for sort, cursor in crafted:
            response = await client.get(
                LEADS, params={"sort": sort, "cursor": cursor}, headers=world.sales.headers
            )
            assert response.status_code == 422, (sort, response.text)


class TestRacingWrites:
    async def test_two_patches_with_the_same_if_match_one_wins_one_is_412(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        account = await sign_up(committing_client, "committing-race")
        lead = await committing_client.post(
            LEADS, json={"full_name": "Đua"}, headers=account["headers"]
        )
        url = f"{LEADS}/{lead.json()['id']}"
        headers = {**account["headers"], "If-Match": '"1"'}

        results = await asyncio.gather(
            *(committing_client.patch(url, json={"score": n}, headers=headers) for n in (1, 2))
        )

        assert sorted(r.status_code for r in results) == [200, 412]
