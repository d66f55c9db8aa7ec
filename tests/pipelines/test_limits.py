"""How many pipelines a workspace, and stages a pipeline, may have: `GET /pipelines` is not
paged, so these caps are what keep it small."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.limits import PIPELINES_PER_WORKSPACE, STAGES_PER_PIPELINE
from app.pipelines import service
from app.pipelines.schemas import NewPipelineStage, PipelineCreate
from tests.conftest import World, acting_as

PIPELINES = "/api/v1/pipelines"
ENDS = [
    {"name": "Thắng", "probability": 100, "kind": "won"},
    {"name": "Thua", "probability": 0, "kind": "lost"},
]


def _stages(open_stages: int) -> list[dict[str, object]]:
    opened = [{"name": f"Bước {n}", "probability": 10, "kind": "open"} for n in range(open_stages)]
    return opened + ENDS


class TestPipelinesPerWorkspace:
    async def test_the_51st_pipeline_is_409_until_one_is_deleted(
        self, session: AsyncSession, client: httpx.AsyncClient, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        stages = [NewPipelineStage.model_validate(s) for s in _stages(1)]
        for n in range(PIPELINES_PER_WORKSPACE - 1):  # the seeded default is the first
            await service.create_pipeline(ctx, PipelineCreate(name=f"Dòng {n}", stages=stages))

        refused = await client.post(
            PIPELINES, json={"name": "Một quá", "stages": _stages(1)}, headers=world.admin.headers
        )
        listed = await client.get(PIPELINES, headers=world.sales.headers)
        spare = next(p for p in listed.json()["data"] if not p["is_default"])
        await client.delete(f"{PIPELINES}/{spare['id']}", headers=world.admin.headers)
        after_delete = await client.post(
            PIPELINES, json={"name": "Thay thế", "stages": _stages(1)}, headers=world.admin.headers
        )

        assert PIPELINES_PER_WORKSPACE == 50
        assert refused.status_code == 409
        assert refused.json()["code"] == "pipeline_limit"
        assert "50" in refused.json()["detail"]
        assert len(listed.json()["data"]) == 50
        assert after_delete.status_code == 201


class TestStagesPerPipeline:
    async def test_a_31st_stage_is_409_and_retiring_one_does_not_make_room(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        created = await client.post(
            PIPELINES,
            json={"name": "Dài", "stages": _stages(STAGES_PER_PIPELINE - 3)},
            headers=world.admin.headers,
        )
        url = f"{PIPELINES}/{created.json()['id']}"
        stage = {"name": "Thêm", "probability": 50, "kind": "open"}

        thirtieth = await client.post(f"{url}/stages", json=stage, headers=world.admin.headers)
        refused = await client.post(f"{url}/stages", json=stage, headers=world.admin.headers)
        first_open = created.json()["stages"][0]["id"]
        await client.delete(f"{url}/stages/{first_open}", headers=world.admin.headers)
        after_retiring = await client.post(f"{url}/stages", json=stage, headers=world.admin.headers)
        read = await client.get(url, headers=world.sales.headers)

        assert STAGES_PER_PIPELINE == 30
        assert created.status_code == 201
        assert thirtieth.status_code == 201
        assert refused.status_code == 409
        assert refused.json()["code"] == "stage_limit"
        assert after_retiring.status_code == 409
        assert len(read.json()["stages"]) == 30


class TestContract:
    async def test_the_spec_states_the_caps_and_their_codes(
        self, client: httpx.AsyncClient
    ) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]

        assert "at most 50 pipelines" in paths[PIPELINES]["get"]["description"]
        assert "at most 30 stages" in paths[PIPELINES]["get"]["description"]
        assert "`pipeline_limit`" in paths[PIPELINES]["post"]["responses"]["409"]["description"]
        add_stage = paths[f"{PIPELINES}/{{pipeline_id}}/stages"]["post"]
        assert "`stage_limit`" in add_stage["responses"]["409"]["description"]
