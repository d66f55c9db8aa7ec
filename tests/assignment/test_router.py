"""Assignment rules through the HTTP API: admins and owners shape them, every member reads them."""

import uuid

import httpx
import pytest

from tests.conftest import World
from tests.factories import make_assignment_rule, make_team, make_user

RULES = "/api/v1/assignment-rules"


def _field(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    field: str = response.json()["errors"][0]["field"]
    return field


class TestAssignmentRules:
    async def test_an_admin_makes_a_rule_with_defaults_and_every_member_reads_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            RULES,
            json={"name": "Facebook → Lan", "strategy": "fixed",
                  "user_ids": [str(world.sales.user_id)], "conditions": {"source": "facebook"}},
            headers=world.admin.headers,
        )  # fmt: skip
        rule = response.json()

        assert response.status_code == 201, response.text
        assert response.headers["etag"] == '"1"'
        assert (rule["priority"], rule["active"], rule["team_id"]) == (100, True, None)
        assert rule["conditions"] == {
            "form_id": None, "integration_id": None, "campaign_id": None,
            "source": "facebook", "province": None, "tag": None,
        }  # fmt: skip
        read = await client.get(f"{RULES}/{rule['id']}", headers=world.sales.headers)
        listed = await client.get(RULES, headers=world.sales.headers)
        assert read.json() == rule
        assert listed.json()["data"] == [rule]

    async def test_sales_and_managers_cannot_write_rules(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await make_assignment_rule(client, world.admin.headers)
        url = f"{RULES}/{rule['id']}"

        for member in (world.sales, world.manager):
            headers = member.headers
            body = {"name": "Của tôi", "strategy": "fixed", "user_ids": [str(member.user_id)]}
            assert (await client.post(RULES, json=body, headers=headers)).status_code == 403
            assert (
                await client.patch(url, json={"priority": 1}, headers=headers)
            ).status_code == 403
            assert (await client.delete(url, headers=headers)).status_code == 403
            assert (await client.post(f"{url}/restore", headers=headers)).status_code == 403
        assert (await client.get(url, headers=world.sales.headers)).json()["version"] == 1

    async def test_another_workspace_sees_no_rule_of_ours(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await make_assignment_rule(client, world.owner.headers)
        url, theirs = f"{RULES}/{rule['id']}", world.other_owner.headers

        assert (await client.get(url, headers=theirs)).status_code == 404
        assert (await client.get(f"{url}/history", headers=theirs)).status_code == 404
        assert (await client.patch(url, json={"priority": 1}, headers=theirs)).status_code == 404
        assert (await client.delete(url, headers=theirs)).status_code == 404
        assert (await client.get(RULES, headers=theirs)).json()["data"] == []

    async def test_listed_by_priority_then_id_with_filters(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        admin = world.admin.headers
        late = await make_assignment_rule(client, admin, name="Còn lại", priority=200)
        first = await make_assignment_rule(client, admin, name="Zalo", priority=10)
        tie = await make_assignment_rule(
            client, admin, name="Hotline", priority=10, strategy="round_robin", active=False
        )

        async def names(**params: str) -> list[str]:
            page = await client.get(RULES, params=params, headers=admin)
            assert page.status_code == 200, page.text
            return [r["name"] for r in page.json()["data"]]

        assert await names() == [first["name"], tie["name"], late["name"]]
        assert await names(sort="-created_at") == [tie["name"], first["name"], late["name"]]
        assert await names(active="false") == [tie["name"]]
        assert await names(strategy="fixed") == [first["name"], late["name"]]
        assert await names(sort="-priority", limit="1") == [late["name"]]

    async def test_an_update_changes_the_fields_sent_and_is_kept_in_history(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await make_assignment_rule(
            client, world.admin.headers, user_ids=[str(world.sales.user_id)]
        )
        url = f"{RULES}/{rule['id']}"

        stale = await client.patch(
            url, json={"priority": 5}, headers=world.admin.headers | {"If-Match": '"7"'}
        )
        updated = await client.patch(
            url,
            json={"priority": 5, "strategy": "round_robin", "conditions": {"tag": "VIP"},
                  "user_ids": [str(world.sales.user_id), str(world.teammate.user_id)]},
            headers=world.admin.headers | {"If-Match": '"1"'},
        )  # fmt: skip
        history = await client.get(f"{url}/history", headers=world.sales.headers)

        assert stale.status_code == 412
        assert updated.status_code == 200, updated.text
        assert (updated.json()["priority"], updated.json()["version"]) == (5, 2)
        assert updated.json()["conditions"]["tag"] == "VIP"
        assert updated.json()["conditions"]["source"] is None  # replaced whole
        changes = [(e["action"], sorted(e["changes"])) for e in history.json()["data"]]
        assert changes[1] == ("updated", ["conditions", "priority", "strategy", "user_ids"])

    async def test_a_rule_moves_from_users_to_a_team_by_sending_both(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await make_assignment_rule(client, world.admin.headers)
        url = f"{RULES}/{rule['id']}"

        moved = await client.patch(
            url, json={"team_id": str(world.sales.team_id), "user_ids": []},
            headers=world.admin.headers,
        )  # fmt: skip

        assert moved.status_code == 200, moved.text
        assert (moved.json()["team_id"], moved.json()["user_ids"]) == (str(world.sales.team_id), [])

    async def test_deleted_rules_leave_the_list_and_come_back_on_restore(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await make_assignment_rule(client, world.admin.headers)
        url = f"{RULES}/{rule['id']}"

        deleted = await client.delete(url, headers=world.owner.headers)
        hidden = await client.get(RULES, headers=world.sales.headers)
        shown = await client.get(
            RULES, params={"include_deleted": "true"}, headers=world.admin.headers
        )
        restored = await client.post(f"{url}/restore", headers=world.admin.headers)

        assert deleted.status_code == 204
        assert hidden.json()["data"] == []
        assert [r["id"] for r in shown.json()["data"]] == [rule["id"]]
        assert (restored.status_code, restored.json()["deleted_at"]) == (200, None)


class TestRuleValidation:
    async def test_users_or_a_team_but_not_both_nor_neither(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        body = {"name": "Lạc", "strategy": "round_robin"}
        neither = await client.post(RULES, json=body, headers=world.admin.headers)
        both = await client.post(
            RULES,
            json=body
            | {"user_ids": [str(world.sales.user_id)], "team_id": str(world.sales.team_id)},
            headers=world.admin.headers,
        )
        empty = await client.post(RULES, json=body | {"user_ids": []}, headers=world.admin.headers)

        assert _field(neither) == "user_ids"
        assert _field(both) == "team_id"
        assert _field(empty) == "user_ids"

    async def test_every_user_is_an_active_user_of_the_workspace_listed_once(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        inactive = await make_user(client, world.admin.headers, is_active=False)
        sales = str(world.sales.user_id)

        for user_ids in (
            [sales, inactive["id"]],
            [sales, str(world.other_owner.user_id)],
            [sales, str(uuid.uuid4())],
            [sales, sales],
        ):
            response = await client.post(
                RULES, json={"name": "Lạc", "strategy": "fixed", "user_ids": user_ids},
                headers=world.admin.headers,
            )  # fmt: skip
            assert _field(response) == "user_ids", user_ids

    async def test_the_team_is_one_of_the_workspace(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = await make_team(client, world.other_owner.headers)

        for team_id in (theirs["id"], str(uuid.uuid4())):
            response = await client.post(
                RULES, json={"name": "Lạc", "strategy": "least_loaded", "team_id": team_id},
                headers=world.admin.headers,
            )  # fmt: skip
            assert _field(response) == "team_id"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"strategy": "random"}, "strategy"),
            ({"priority": -1}, "priority"),
            ({"priority": "1"}, "priority"),
            ({"name": ""}, "name"),
            ({"conditions": {"form_id": "không-phải-uuid"}}, "conditions.form_id"),
            ({"conditions": {"source": "tivi"}}, "conditions.source"),
            ({"conditions": {"colour": "đỏ"}}, "conditions.colour"),
        ],
    )
    async def test_malformed_fields_are_named(
        self, client: httpx.AsyncClient, world: World, change: dict[str, object], field: str
    ) -> None:
        body = {"name": "Lạc", "strategy": "fixed", "user_ids": [str(world.sales.user_id)]}

        response = await client.post(RULES, json=body | change, headers=world.admin.headers)

        assert _field(response) == field

    async def test_conditions_on_forms_campaigns_and_integrations_take_any_uuid(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        ids = {k: str(uuid.uuid4()) for k in ("form_id", "campaign_id", "integration_id")}

        rule = await make_assignment_rule(client, world.admin.headers, conditions=ids)

        assert {k: rule["conditions"][k] for k in ids} == ids

    async def test_an_update_that_leaves_a_rule_without_hands_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await make_assignment_rule(
            client, world.admin.headers, team_id=str(world.sales.team_id)
        )
        url = f"{RULES}/{rule['id']}"

        orphaned = await client.patch(url, json={"team_id": None}, headers=world.admin.headers)
        doubled = await client.patch(
            url, json={"user_ids": [str(world.sales.user_id)]}, headers=world.admin.headers
        )
        nulled = await client.patch(url, json={"strategy": None}, headers=world.admin.headers)

        assert _field(orphaned) == "user_ids"
        assert _field(doubled) == "team_id"
        assert _field(nulled) == "strategy"
