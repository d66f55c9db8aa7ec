"""Idempotency-Key on POST: replay, reuse with another body, and a concurrent retry."""

import asyncio
import uuid

import httpx

from tests.conftest import World, sign_up

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
