"""Idempotency-Key on POST: replay, reuse with another body, and a concurrent retry."""

import asyncio
import uuid

import httpx
from fastapi import FastAPI

from app.core.errors import documented_codes
from tests.conftest import World, sign_up
from tests.factories import make_lead

LEADS = "/api/v1/leads"


class TestIdempotencyKey:
    async def test_retry_with_same_key_and_body_replays_the_first_response(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        headers = {**world.sales.headers, "Idempotency-Key": "form-42"}
        first = await client.post(LEADS, json={"full_name": "Phạm Minh"}, headers=headers)
        retry = await client.post(LEADS, json={"full_name": "Phạm Minh"}, headers=headers)

        listed = await client.get(LEADS, params={"q": "pham minh"}, headers=world.sales.headers)
        assert retry.status_code == first.status_code == 201
        assert retry.json() == first.json()
        assert retry.headers["idempotent-replayed"] == "true"
        assert len(listed.json()["data"]) == 1

    async def test_same_key_with_another_body_is_409(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        headers = {**world.sales.headers, "Idempotency-Key": "form-43"}
        await client.post(LEADS, json={"full_name": "Một"}, headers=headers)

        response = await client.post(LEADS, json={"full_name": "Hai"}, headers=headers)

        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_reused"

    async def test_keys_belong_to_their_user(self, client: httpx.AsyncClient, world: World) -> None:
        key = {"Idempotency-Key": "shared-key"}
        mine = await client.post(
            LEADS, json={"full_name": "A"}, headers={**world.sales.headers, **key}
        )
        theirs = await client.post(
            LEADS, json={"full_name": "A"}, headers={**world.teammate.headers, **key}
        )

        assert mine.status_code == theirs.status_code == 201
        assert mine.json()["id"] != theirs.json()["id"]

    async def test_a_failed_request_does_not_burn_the_key(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        headers = {**world.sales.headers, "Idempotency-Key": "after-error"}
        bad = await client.post(LEADS, json={"full_name": "A", "status": "nope"}, headers=headers)
        good = await client.post(LEADS, json={"full_name": "A", "status": "nope"}, headers=headers)

        assert bad.status_code == good.status_code == 422
        assert "idempotent-replayed" not in good.headers


class TestEmptyKeys:
    async def test_an_empty_or_blank_key_is_400_and_creates_nothing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        answers = [
            await client.post(
                LEADS, json={"full_name": "Khóa Rỗng"},
                headers={**world.sales.headers, "Idempotency-Key": key},
            )
            for key in ("", "", "   ")
        ]  # fmt: skip

        listed = await client.get(LEADS, params={"q": "khoa rong"}, headers=world.sales.headers)
        for answer in answers:
            assert answer.status_code == 400
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "idempotency_key_invalid"
        assert listed.json()["data"] == []

    async def test_the_contract_documents_the_empty_key_problem_on_every_post_that_takes_keys(
        self, app: FastAPI
    ) -> None:
        spec = app.openapi()
        operations = [
            operation
            for item in spec["paths"].values()
            for operation in item.values()
            if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
        ]

        assert len(operations) >= 10
        for operation in operations:
            assert "idempotency_key_invalid" in documented_codes(operation["responses"]["400"])
            assert "404" in operation["responses"]


class TestReplays:
    async def test_a_replay_carries_the_first_responses_etag(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        headers = {**world.sales.headers, "Idempotency-Key": "etag-1"}
        first = await client.post(LEADS, json={"full_name": "Đỗ Hùng"}, headers=headers)
        retry = await client.post(LEADS, json={"full_name": "Đỗ Hùng"}, headers=headers)

        assert first.headers["etag"] == '"1"'
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.headers["etag"] == first.headers["etag"]

    async def test_a_replay_of_a_record_moved_to_another_team_is_404_without_its_body(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        headers = {**world.sales.headers, "Idempotency-Key": "moved-1"}
        first = await client.post(
            LEADS, json={"full_name": "Bí Mật", "phone": "0912 000 111"}, headers=headers
        )
        moved = await client.patch(
            f"{LEADS}/{first.json()['id']}",
            json={"owner_id": str(world.outsider.user_id)},
            headers=world.admin.headers,
        )

        retry = await client.post(
            LEADS, json={"full_name": "Bí Mật", "phone": "0912 000 111"}, headers=headers
        )
        read = await client.get(f"{LEADS}/{first.json()['id']}", headers=world.sales.headers)

        assert (first.status_code, moved.status_code) == (201, 200)
        assert retry.status_code == read.status_code == 404
        assert retry.json()["code"] == "not_found"
        assert "0912" not in retry.text
        assert first.json()["id"] not in retry.text

    async def test_a_replay_of_a_deleted_record_is_404(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        headers = {**world.sales.headers, "Idempotency-Key": "deleted-1"}
        first = await client.post(LEADS, json={"full_name": "Xóa Rồi"}, headers=headers)
        await client.delete(f"{LEADS}/{first.json()['id']}", headers=world.sales.headers)

        retry = await client.post(LEADS, json={"full_name": "Xóa Rồi"}, headers=headers)

        assert retry.status_code == 404
        assert "Xóa Rồi" not in retry.text

    async def test_a_conversion_replay_is_404_once_a_record_it_made_is_out_of_sight(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_lead(
            client, world.sales.headers, full_name="Lý Chuyển", company_name="Công ty Chuyển Đổi"
        )
        url = f"{LEADS}/{made['id']}/convert"
        headers = {**world.sales.headers, "Idempotency-Key": "convert-1"}
        first = await client.post(url, headers=headers)
        again = await client.post(url, headers=headers)
        account_id = first.json()["account"]["id"]
        await client.patch(
            f"/api/v1/accounts/{account_id}",
            json={"owner_id": str(world.outsider.user_id)},
            headers=world.admin.headers,
        )

        retry = await client.post(url, headers=headers)

        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json() == first.json()
        assert retry.status_code == 404
        assert account_id not in retry.text


class TestConcurrentRetries:
    async def test_eight_concurrent_requests_with_one_key_create_one_lead(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        account = await sign_up(committing_client, "committing-idem")
        headers = {**account["headers"], "Idempotency-Key": str(uuid.uuid4())}

        responses = await asyncio.gather(
            *(
                committing_client.post(LEADS, json={"full_name": "Đua"}, headers=headers)
                for _ in range(8)
            )
        )

        assert {r.status_code for r in responses} == {201}
        assert len({r.json()["id"] for r in responses}) == 1
        listed = await committing_client.get(LEADS, headers=account["headers"])
        assert len(listed.json()["data"]) == 1
