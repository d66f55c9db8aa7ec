"""Leads through the HTTP API, as a frontend uses them."""

import asyncio
import base64
import json

import httpx

from tests.conftest import World, sign_up
from tests.factories import make_lead

LEADS = "/api/v1/leads"


def _cursor(*parts: object) -> str:
    """A cursor as the API encodes one: well formed, whatever its values."""
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


class TestCreateLead:
    async def test_defaults_owner_status_and_normalises_phone(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers, phone="0912 345 678")

        assert lead["owner_id"] == str(world.sales.user_id)
        assert lead["status"] == "new"
        assert lead["phone"] == "0912 345 678"
        assert lead["phone_e164"] == "+84912345678"
        assert lead["version"] == 1

    async def test_unparseable_phone_is_kept_as_typed(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers, phone="gọi sau 5h")

        assert lead["phone"] == "gọi sau 5h"
        assert lead["phone_e164"] is None

    async def test_read_only_and_unknown_fields_are_422_naming_them(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        body = {"full_name": "A", "id": "x", "version": 3, "nickname": "b"}
        response = await client.post(LEADS, json=body, headers=world.sales.headers)

        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        fields = {e["field"] for e in response.json()["errors"]}
        assert fields == {"id", "version", "nickname"}

    async def test_unknown_status_is_422(self, client: httpx.AsyncClient, world: World) -> None:
        response = await client.post(
            LEADS, json={"full_name": "A", "status": "nope"}, headers=world.sales.headers
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "status"

    async def test_too_long_name_is_422(self, client: httpx.AsyncClient, world: World) -> None:
        response = await client.post(
            LEADS, json={"full_name": "A" * 201}, headers=world.sales.headers
        )

        assert response.status_code == 422

    async def test_body_over_one_mebibyte_is_413(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            LEADS,
            content=b'{"full_name": "' + b"a" * (1024 * 1024) + b'"}',
            headers={**world.sales.headers, "content-type": "application/json"},
        )

        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"

    async def test_without_credentials_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post(LEADS, json={"full_name": "A"})

        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


class TestListLeads:
    async def test_pages_by_cursor_without_gaps_or_repeats(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = [
            await make_lead(client, world.sales.headers, full_name=f"Lead {i}") for i in range(7)
        ]

        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(LEADS, params=params, headers=world.sales.headers)).json()
            seen += [lead["id"] for lead in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert seen == [lead["id"] for lead in reversed(made)]

    async def test_sort_by_name_ascending(self, client: httpx.AsyncClient, world: World) -> None:
        for name in ("Chi", "An", "Bình"):
            await make_lead(client, world.sales.headers, full_name=name)

        page = await client.get(LEADS, params={"sort": "full_name"}, headers=world.sales.headers)

        assert [lead["full_name"] for lead in page.json()["data"]] == ["An", "Bình", "Chi"]

    async def test_unsortable_field_is_422(self, client: httpx.AsyncClient, world: World) -> None:
        response = await client.get(LEADS, params={"sort": "email"}, headers=world.sales.headers)

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "sort"

    async def test_limit_outside_1_to_200_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for limit in (0, 201):
            response = await client.get(LEADS, params={"limit": limit}, headers=world.sales.headers)
            assert response.status_code == 422

    async def test_garbage_cursor_is_422(self, client: httpx.AsyncClient, world: World) -> None:
        response = await client.get(LEADS, params={"cursor": "bm9wZQ"}, headers=world.sales.headers)

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "cursor"

    async def test_a_well_formed_cursor_whose_values_do_not_fit_its_sort_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
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

    async def test_a_date_time_outside_what_can_be_stored_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.get(
            LEADS,
            params={"created_after": "0001-01-01T00:00:00+01:00"},
            headers=world.sales.headers,
        )

        assert response.status_code == 422

    async def test_filters_combine_with_and(self, client: httpx.AsyncClient, world: World) -> None:
        hot_fb = await make_lead(client, world.sales.headers, status="hot", source="facebook")
        await make_lead(client, world.sales.headers, status="hot", source="zalo")
        await make_lead(client, world.sales.headers, status="new", source="facebook")

        page = await client.get(
            LEADS, params={"status": "hot", "source": "facebook"}, headers=world.sales.headers
        )

        assert [lead["id"] for lead in page.json()["data"]] == [hot_fb["id"]]

    async def test_a_repeated_filter_matches_any_of_its_values(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        hot = await make_lead(client, world.sales.headers, status="hot")
        new = await make_lead(client, world.sales.headers, status="new")
        await make_lead(client, world.sales.headers, status="contacted")

        page = await client.get(
            LEADS, params=[("status", "new"), ("status", "hot")], headers=world.sales.headers
        )

        assert {lead["id"] for lead in page.json()["data"]} == {hot["id"], new["id"]}

    async def test_status_category_and_tag_filters(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        hot = await make_lead(client, world.sales.headers, status="hot", tags=["vip", "hn"])
        await make_lead(client, world.sales.headers, status="potential", tags=["hn"])
        await make_lead(client, world.sales.headers, status="new", tags=["vip", "hn"])

        page = await client.get(
            LEADS,
            params=[("status_category", "qualified"), ("tag", "vip"), ("tag", "hn")],
            headers=world.sales.headers,
        )

        assert [lead["id"] for lead in page.json()["data"]] == [hot["id"]]

    async def test_q_ignores_case_and_vietnamese_diacritics(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        anh = await make_lead(client, world.sales.headers, full_name="Nguyễn Văn Ánh")
        dang = await make_lead(client, world.sales.headers, full_name="Đặng Thị Hoa")
        await make_lead(client, world.sales.headers, full_name="Trần Bình")

        async def search(q: str) -> list[str]:
            page = await client.get(LEADS, params={"q": q}, headers=world.sales.headers)
            return [lead["id"] for lead in page.json()["data"]]

        assert await search("nguyen van anh") == [anh["id"]]
        assert await search("NGUYỄN") == [anh["id"]]
        assert await search("dang") == [dang["id"]]

    async def test_q_finds_by_phone_as_typed_or_international(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers, phone="0912 345 678")

        for q in ("0912 345", "+84912345678"):
            page = await client.get(LEADS, params={"q": q}, headers=world.sales.headers)
            assert [found["id"] for found in page.json()["data"]] == [lead["id"]]


class TestUpdateLead:
    async def test_only_sent_fields_change_and_version_moves(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers, company_name="Minh Phát", score=10)

        response = await client.patch(
            f"{LEADS}/{lead['id']}", json={"score": 70}, headers=world.sales.headers
        )

        assert response.status_code == 200, response.text
        assert response.json()["score"] == 70
        assert response.json()["company_name"] == "Minh Phát"
        assert response.json()["version"] == 2
        assert response.headers["etag"] == '"2"'

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)
        url = f"{LEADS}/{lead['id']}"
        await client.patch(url, json={"score": 5}, headers=world.sales.headers)

        stale = await client.patch(
            url, json={"score": 99}, headers={**world.sales.headers, "If-Match": '"1"'}
        )

        assert stale.status_code == 412
        assert stale.json()["code"] == "version_mismatch"
        assert (await client.get(url, headers=world.sales.headers)).json()["score"] == 5

    async def test_current_if_match_applies(self, client: httpx.AsyncClient, world: World) -> None:
        lead = await make_lead(client, world.sales.headers)
        url = f"{LEADS}/{lead['id']}"
        etag = (await client.get(url, headers=world.sales.headers)).headers["etag"]

        response = await client.patch(
            url, json={"title": "CEO"}, headers={**world.sales.headers, "If-Match": etag}
        )

        assert response.status_code == 200

    async def test_two_racing_patches_with_the_same_if_match_one_wins_one_is_412(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        account = await sign_up(committing_client, "committing-race")
        lead = await make_lead(committing_client, account["headers"], full_name="Đua")
        url = f"{LEADS}/{lead['id']}"
        headers = {**account["headers"], "If-Match": '"1"'}

        results = await asyncio.gather(
            *(committing_client.patch(url, json={"score": n}, headers=headers) for n in (1, 2))
        )

        assert sorted(r.status_code for r in results) == [200, 412]

    async def test_null_for_a_required_field_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)

        response = await client.patch(
            f"{LEADS}/{lead['id']}", json={"full_name": None}, headers=world.sales.headers
        )

        assert response.status_code == 422

    async def test_phone_change_renormalises(self, client: httpx.AsyncClient, world: World) -> None:
        lead = await make_lead(client, world.sales.headers, phone="0912 345 678")

        response = await client.patch(
            f"{LEADS}/{lead['id']}", json={"phone": "028 3822 1234"}, headers=world.sales.headers
        )

        assert response.json()["phone_e164"] == "+842838221234"

    async def test_owner_must_be_a_user_of_the_workspace(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.owner.headers)

        response = await client.patch(
            f"{LEADS}/{lead['id']}",
            json={"owner_id": str(world.other_owner.user_id)},
            headers=world.owner.headers,
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "owner_id"


class TestDeleteAndRestore:
    async def test_deleted_lead_leaves_lists_and_comes_back(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)
        url = f"{LEADS}/{lead['id']}"

        assert (await client.delete(url, headers=world.sales.headers)).status_code == 204
        listed = await client.get(LEADS, headers=world.sales.headers)
        with_deleted = await client.get(
            LEADS, params={"include_deleted": "true"}, headers=world.sales.headers
        )
        assert (await client.get(url, headers=world.sales.headers)).status_code == 404
        assert lead["id"] not in [x["id"] for x in listed.json()["data"]]
        assert lead["id"] in [x["id"] for x in with_deleted.json()["data"]]

        restored = await client.post(f"{url}/restore", headers=world.sales.headers)
        assert restored.status_code == 200
        assert restored.json()["deleted_at"] is None
        assert (await client.get(url, headers=world.sales.headers)).status_code == 200

    async def test_delete_with_stale_if_match_is_412(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)
        url = f"{LEADS}/{lead['id']}"
        await client.patch(url, json={"score": 1}, headers=world.sales.headers)

        response = await client.delete(url, headers={**world.sales.headers, "If-Match": '"1"'})

        assert response.status_code == 412
        assert (await client.get(url, headers=world.sales.headers)).status_code == 200


class TestHistory:
    async def test_keeps_who_when_and_old_to_new(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers, status="new")
        url = f"{LEADS}/{lead['id']}"
        await client.patch(url, json={"status": "contacted"}, headers=world.teammate.headers)
        await client.delete(url, headers=world.sales.headers)
        await client.post(f"{url}/restore", headers=world.sales.headers)

        history = (await client.get(f"{url}/history", headers=world.sales.headers)).json()["data"]

        assert [h["action"] for h in history] == ["created", "updated", "deleted", "restored"]
        assert history[1]["changes"] == {"status": {"old": "new", "new": "contacted"}}
        assert history[1]["actor_id"] == str(world.teammate.user_id)
        assert history[0]["actor_id"] == str(world.sales.user_id)
