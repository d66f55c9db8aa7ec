"""Pipelines and their stages through the HTTP API: seeded, shaped by admins, never pulled from
under a deal."""

import httpx

from tests.conftest import World
from tests.factories import PIPELINE_STAGES, default_pipeline, make_deal, make_pipeline

PIPELINES = "/api/v1/pipelines"


class TestSeeded:
    async def test_a_workspace_starts_with_a_bilingual_default_pipeline(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await default_pipeline(client, world.sales.headers)

        names = [(s["name"], s["name_en"], s["kind"]) for s in pipeline["stages"]]
        assert names[0] == ("Tiếp cận", "Prospecting", "open")
        assert names[-2:] == [("Thắng", "Won", "won"), ("Thua", "Lost", "lost")]
        positions = [s["position"] for s in pipeline["stages"]]
        assert positions == sorted(positions)


class TestCreatePipeline:
    async def test_keeps_the_stages_in_the_order_given(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await make_pipeline(client, world.admin.headers)

        assert [s["name"] for s in pipeline["stages"]] == ["Tiếp cận", "Lái thử", "Thắng", "Thua"]
        assert pipeline["is_default"] is False
        assert all(s["is_active"] for s in pipeline["stages"])

    async def test_without_a_won_or_lost_stage_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            PIPELINES,
            json={"name": "Thiếu", "stages": PIPELINE_STAGES[:3]},
            headers=world.admin.headers,
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "stages"

    async def test_only_admins_shape_pipelines(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            PIPELINES,
            json={"name": "Của tôi", "stages": PIPELINE_STAGES},
            headers=world.sales.headers,
        )

        assert response.status_code == 403

    async def test_a_new_default_takes_over_from_the_old_one(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        old = await default_pipeline(client, world.sales.headers)

        new = await make_pipeline(client, world.admin.headers, is_default=True)
        listed = (await client.get(PIPELINES, headers=world.sales.headers)).json()["data"]

        assert [p["id"] for p in listed if p["is_default"]] == [new["id"]]
        old_now = next(p for p in listed if p["id"] == old["id"])
        assert old_now["version"] == old["version"] + 1  # it reads differently: a new ETag


class TestStages:
    async def test_reorder_add_and_rename_move_the_version(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await make_pipeline(client, world.admin.headers)
        url = f"{PIPELINES}/{pipeline['id']}"
        ids = [s["id"] for s in pipeline["stages"]]

        reordered = await client.patch(
            url, json={"stage_ids": [ids[1], ids[0], ids[2], ids[3]]}, headers=world.admin.headers
        )
        added = await client.post(
            f"{url}/stages",
            json={"name": "Đặt cọc", "probability": 80, "kind": "open", "position": 25},
            headers=world.admin.headers,
        )
        renamed = await client.patch(
            f"{url}/stages/{ids[0]}", json={"name": "Gặp mặt"}, headers=world.admin.headers
        )

        assert [s["id"] for s in reordered.json()["stages"]] == [ids[1], ids[0], ids[2], ids[3]]
        assert [s["name"] for s in added.json()["stages"]] == [
            "Lái thử", "Tiếp cận", "Đặt cọc", "Thắng", "Thua",
        ]  # fmt: skip
        assert renamed.json()["stages"][1]["name"] == "Gặp mặt"
        assert renamed.json()["version"] == 4
        assert renamed.headers["etag"] == '"4"'

    async def test_a_stage_moved_onto_another_stages_position_goes_there_and_the_rest_shift(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await make_pipeline(client, world.admin.headers)
        url = f"{PIPELINES}/{pipeline['id']}"
        by_name = {s["name"]: s for s in pipeline["stages"]}
        first = by_name["Tiếp cận"]["position"]
        last = by_name["Thua"]["position"]

        up = await client.patch(
            f"{url}/stages/{by_name['Thắng']['id']}", json={"position": first},
            headers=world.admin.headers,
        )  # fmt: skip
        down = await client.patch(
            f"{url}/stages/{by_name['Tiếp cận']['id']}", json={"position": last},
            headers=world.admin.headers,
        )  # fmt: skip
        read = await client.get(url, headers=world.sales.headers)

        assert [s["name"] for s in up.json()["stages"]] == ["Thắng", "Tiếp cận", "Lái thử", "Thua"]
        assert [s["name"] for s in down.json()["stages"]] == [
            "Thắng", "Lái thử", "Tiếp cận", "Thua",
        ]  # fmt: skip
        stages = read.json()["stages"]
        assert [s["name"] for s in stages] == ["Thắng", "Lái thử", "Tiếp cận", "Thua"]
        positions = [s["position"] for s in stages]
        assert positions == sorted(set(positions))  # no two stages share a place
        assert (stages[0]["position"], stages[2]["position"]) == (first, last)

    async def test_a_new_stage_at_a_taken_position_goes_before_the_stage_there(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await make_pipeline(client, world.admin.headers)
        taken = pipeline["stages"][1]["position"]

        added = await client.post(
            f"{PIPELINES}/{pipeline['id']}/stages",
            json={"name": "Đặt cọc", "probability": 80, "kind": "open", "position": taken},
            headers=world.admin.headers,
        )

        assert [s["name"] for s in added.json()["stages"]] == [
            "Tiếp cận", "Đặt cọc", "Lái thử", "Thắng", "Thua",
        ]  # fmt: skip
        positions = [s["position"] for s in added.json()["stages"]]
        assert positions == sorted(set(positions))

    async def test_a_reorder_that_leaves_out_a_stage_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await make_pipeline(client, world.admin.headers)
        ids = [s["id"] for s in pipeline["stages"]]

        response = await client.patch(
            f"{PIPELINES}/{pipeline['id']}", json={"stage_ids": ids[:3]},
            headers=world.admin.headers,
        )  # fmt: skip

        assert response.status_code == 422

    async def test_a_stage_with_deals_cannot_be_retired_until_they_move(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await make_pipeline(client, world.admin.headers)
        first, second = pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]
        deal = await make_deal(
            client, world.sales.headers, name="Xe bán tải", pipeline_id=pipeline["id"]
        )
        stage_url = f"{PIPELINES}/{pipeline['id']}/stages/{first}"

        refused = await client.delete(stage_url, headers=world.admin.headers)
        await client.post(
            f"/api/v1/deals/{deal['id']}/stage",
            json={"stage_id": second},
            headers=world.sales.headers,
        )
        retired = await client.delete(stage_url, headers=world.admin.headers)
        no_more = await client.post(
            "/api/v1/deals",
            json={"name": "Xe khác", "pipeline_id": pipeline["id"], "stage_id": first},
            headers=world.sales.headers,
        )

        assert refused.status_code == 409
        assert refused.json()["code"] == "stage_in_use"
        assert retired.status_code == 200
        assert {s["id"]: s["is_active"] for s in retired.json()["stages"]}[first] is False
        assert no_more.status_code == 422
        assert no_more.json()["errors"][0]["field"] == "stage_id"

    async def test_the_last_won_stage_cannot_be_retired(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await make_pipeline(client, world.admin.headers)
        won = next(s["id"] for s in pipeline["stages"] if s["kind"] == "won")

        response = await client.delete(
            f"{PIPELINES}/{pipeline['id']}/stages/{won}", headers=world.admin.headers
        )

        assert response.status_code == 409
        assert response.json()["code"] == "stage_kind_required"


class TestDeletePipeline:
    async def test_an_unused_pipeline_goes_but_the_default_or_a_used_one_stays(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        unused = await make_pipeline(client, world.admin.headers, name="Không dùng")
        used = await make_pipeline(client, world.admin.headers, name="Đang dùng")
        await make_deal(client, world.sales.headers, name="Một deal", pipeline_id=used["id"])
        default = await default_pipeline(client, world.sales.headers)

        gone = await client.delete(f"{PIPELINES}/{unused['id']}", headers=world.admin.headers)
        in_use = await client.delete(f"{PIPELINES}/{used['id']}", headers=world.admin.headers)
        needed = await client.delete(f"{PIPELINES}/{default['id']}", headers=world.admin.headers)
        after = await client.get(f"{PIPELINES}/{unused['id']}", headers=world.admin.headers)

        assert gone.status_code == 204
        assert after.status_code == 404
        assert in_use.status_code == 409
        assert needed.status_code == 409
        assert needed.json()["code"] == "default_pipeline_required"


class TestDeletedDealsKeepTheirPlace:
    async def test_a_deleted_deal_keeps_its_pipeline_and_stage_from_vanishing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        pipeline = await make_pipeline(client, world.admin.headers, name="Tạm")
        first = pipeline["stages"][0]["id"]
        deal = await make_deal(
            client, world.sales.headers, name="Sẽ xoá", pipeline_id=pipeline["id"]
        )
        await client.delete(f"/api/v1/deals/{deal['id']}", headers=world.sales.headers)

        stage = await client.delete(
            f"{PIPELINES}/{pipeline['id']}/stages/{first}", headers=world.admin.headers
        )
        whole = await client.delete(f"{PIPELINES}/{pipeline['id']}", headers=world.admin.headers)
        restored = await client.post(
            f"/api/v1/deals/{deal['id']}/restore", headers=world.sales.headers
        )

        assert (stage.status_code, whole.status_code) == (409, 409)
        assert restored.json()["stage_id"] == first
