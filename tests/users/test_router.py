"""Users, teams and who sees what (DESIGN §4)."""

import httpx
import pytest

from tests.conftest import PASSWORD, Member, World

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


class TestVisibility:
    async def _lead_of(self, client: httpx.AsyncClient, member: Member) -> str:
        response = await client.post(LEADS, json={"full_name": "Khách"}, headers=member.headers)
        return response.json()["id"]

    async def _visible(self, client: httpx.AsyncClient, member: Member) -> set[str]:
        page = await client.get(LEADS, params={"limit": 200}, headers=member.headers)
        return {lead["id"] for lead in page.json()["data"]}

    async def test_sales_see_their_own_and_their_teams_records_only(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        mine = await self._lead_of(client, world.sales)
        teammates = await self._lead_of(client, world.teammate)
        outsiders = await self._lead_of(client, world.outsider)

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
        north = await self._lead_of(client, world.sales)
        south = await self._lead_of(client, world.outsider)

        visible = await self._visible(client, world.manager)

        assert north in visible
        assert south not in visible

    async def test_admins_see_everything_in_the_workspace(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        north = await self._lead_of(client, world.sales)
        south = await self._lead_of(client, world.outsider)

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
