"""Users, teams and who sees what (DESIGN §4)."""

import httpx
import pytest

from app.core.settings import get_settings
from tests.conftest import PASSWORD, Member, World
from tests.factories import make_api_key, make_lead

LEADS = "/api/v1/leads"


class TestManagingUsers:
    async def test_admin_adds_a_user_who_can_log_in(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            "/api/v1/users",
            json={"email": "moi@a.vn", "full_name": "Người Mới", "password": PASSWORD},
            headers=world.admin.headers,
        )
        login = await client.post(
            "/api/v1/auth/token", data={"username": "moi@a.vn", "password": PASSWORD}
        )

        assert response.status_code == 201
        assert response.json()["role"] == "sales"
        assert "password" not in response.json()
        assert login.status_code == 200

    @pytest.mark.parametrize("who", ["manager", "sales"])
    async def test_only_admins_and_owners_manage_users(
        self, client: httpx.AsyncClient, world: World, who: str
    ) -> None:
        member: Member = getattr(world, who)
        response = await client.post(
            "/api/v1/users",
            json={"email": f"x-{who}@a.vn", "full_name": "X", "password": PASSWORD},
            headers=member.headers,
        )

        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    async def test_duplicate_email_in_a_workspace_is_409(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            "/api/v1/users",
            json={"email": "SALES@a.vn", "full_name": "Trùng", "password": PASSWORD},
            headers=world.owner.headers,
        )

        assert response.status_code == 409

    async def test_admin_cannot_make_an_owner(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.patch(
            f"/api/v1/users/{world.sales.user_id}",
            json={"role": "owner"},
            headers=world.admin.headers,
        )

        assert response.status_code == 403

    async def test_team_names_are_unique(self, client: httpx.AsyncClient, world: World) -> None:
        response = await client.post(
            "/api/v1/teams", json={"name": "Bắc"}, headers=world.owner.headers
        )

        assert response.status_code == 409


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


class TestVisibility:
    async def _visible(self, client: httpx.AsyncClient, member: Member) -> set[str]:
        page = await client.get(LEADS, params={"limit": 200}, headers=member.headers)
        return {lead["id"] for lead in page.json()["data"]}

    async def test_sales_see_their_own_and_their_teams_records_only(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        mine = (await make_lead(client, world.sales.headers))["id"]
        teammates = (await make_lead(client, world.teammate.headers))["id"]
        outsiders = (await make_lead(client, world.outsider.headers))["id"]

        visible = await self._visible(client, world.sales)

        assert {mine, teammates} <= visible
        assert outsiders not in visible
        hidden = await client.get(f"{LEADS}/{outsiders}", headers=world.sales.headers)
        assert hidden.status_code == 404  # not 403: nothing confirms it exists
        edit = await client.patch(
            f"{LEADS}/{outsiders}", json={"score": 1}, headers=world.sales.headers
        )
        assert edit.status_code == 404

    async def test_managers_see_the_teams_they_manage(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        north = (await make_lead(client, world.sales.headers))["id"]
        south = (await make_lead(client, world.outsider.headers))["id"]

        visible = await self._visible(client, world.manager)

        assert north in visible
        assert south not in visible

    async def test_admins_see_everything_in_the_workspace(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        north = (await make_lead(client, world.sales.headers))["id"]
        south = (await make_lead(client, world.outsider.headers))["id"]

        assert {north, south} <= await self._visible(client, world.admin)

    async def test_sales_cannot_hand_a_lead_to_someone_they_cannot_see(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            LEADS,
            json={"full_name": "Khách", "owner_id": str(world.outsider.user_id)},
            headers=world.sales.headers,
        )

        assert response.status_code == 422


class TestCollectionsArePaged:
    async def test_users_come_by_name_a_page_at_a_time(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pages, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await client.get("/api/v1/users", params=params, headers=world.sales.headers)
            assert page.status_code == 200, page.text
            pages.append([u["full_name"] for u in page.json()["data"]])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break

        names = [name for page in pages for name in page]
        assert all(len(page) <= 2 for page in pages)
        assert len(names) == 6  # workspace A: its owner and five members
        assert names == sorted(names)

    async def test_teams_and_api_keys_are_paged_too(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for name in ("Key A", "Key B", "Key C"):
            await make_api_key(client, world.admin.headers, name=name)

        teams = await client.get("/api/v1/teams", params={"limit": 1}, headers=world.sales.headers)
        keys = await client.get(
            "/api/v1/api-keys", params={"limit": 2}, headers=world.admin.headers
        )
        rest = await client.get(
            "/api/v1/api-keys", params={"limit": 2, "cursor": keys.json()["next_cursor"]},
            headers=world.admin.headers,
        )  # fmt: skip

        assert len(teams.json()["data"]) == 1
        assert teams.json()["next_cursor"] is not None
        assert [k["name"] for k in keys.json()["data"]] == ["Key C", "Key B"]  # newest first
        assert "Key A" in [k["name"] for k in rest.json()["data"]]


class TestApiKeysPerUser:
    async def test_past_the_cap_a_new_key_is_409_until_one_is_revoked(
        self, client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "api_keys_per_user", 2)
        made = [
            await client.post(
                "/api/v1/api-keys", json={"name": f"k{n}"}, headers=world.sales.headers
            )
            for n in range(2)
        ]
        refused = await client.post(
            "/api/v1/api-keys", json={"name": "k2"}, headers=world.sales.headers
        )
        others = await client.post(
            "/api/v1/api-keys", json={"name": "teammate"}, headers=world.teammate.headers
        )
        await client.delete(f"/api/v1/api-keys/{made[0].json()['id']}", headers=world.sales.headers)
        after_revoking = await client.post(
            "/api/v1/api-keys", json={"name": "k3"}, headers=world.sales.headers
        )

        assert [m.status_code for m in made] == [201, 201]
        assert refused.status_code == 409
        assert refused.json()["code"] == "api_key_limit"
        assert others.status_code == 201
        assert after_revoking.status_code == 201
