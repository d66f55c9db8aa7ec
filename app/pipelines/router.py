import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.auth.dependencies import Admin, Member
from app.core.concurrency import IfMatch, set_etag
from app.core.errors import (
    DELETE_ERRORS,
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    Forbidden,
    Unauthorized,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.limits import PIPELINES_PER_WORKSPACE, STAGES_PER_PIPELINE
from app.core.routing import CommittingRoute
from app.pipelines import service
from app.pipelines.schemas import (
    PipelineCreate,
    PipelineList,
    PipelineRead,
    PipelineUpdate,
    StageCreate,
    StageUpdate,
)

router = APIRouter(prefix="/pipelines", tags=["pipelines"], route_class=CommittingRoute)

PipelineID = Annotated[uuid.UUID, Path(description="The pipeline's id.")]
StageID = Annotated[uuid.UUID, Path(description="The stage's id.")]


def _read(response: Response, pipeline: object) -> PipelineRead:
    read = PipelineRead.model_validate(pipeline)
    set_etag(response, read.version)
    return read


@router.get(
    "",
    summary="List pipelines",
    description="Every pipeline, the default first, each with its stages in order. Not paged: "
    f"a workspace has at most {PIPELINES_PER_WORKSPACE} pipelines, each with at most "
    f"{STAGES_PER_PIPELINE} stages (retired ones included).",
    responses=problems(Unauthorized),
)
async def list_pipelines(ctx: Member) -> PipelineList:
    found = await service.list_pipelines(ctx)
    return PipelineList(data=[PipelineRead.model_validate(p) for p in found])


@router.post(
    "",
    summary="Create a pipeline with its stages",
    description="Admins only. Stages keep the order given; `is_default: true` takes over from "
    f"the current default pipeline. A workspace has at most {PIPELINES_PER_WORKSPACE} "
    "pipelines: one more is a 409 `pipeline_limit` (delete one first).",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden, service.TooManyPipelines),
)
async def create_pipeline(
    body: PipelineCreate, ctx: Admin, _: Idempotent, response: Response
) -> PipelineRead:
    return _read(response, await service.create_pipeline(ctx, body))


@router.get(
    "/{pipeline_id}",
    summary="Get a pipeline",
    responses=problems(*READ_ERRORS, service.PipelineNotFound),
)
async def get_pipeline(pipeline_id: PipelineID, ctx: Member, response: Response) -> PipelineRead:
    """The pipeline and its stages, with its version as `ETag`."""
    return _read(response, await service.get_pipeline(ctx, pipeline_id))


@router.patch(
    "/{pipeline_id}",
    summary="Rename, make default or reorder a pipeline's stages",
    responses=problems(
        *UPDATE_ERRORS, Forbidden, service.PipelineNotFound, service.DefaultPipelineRequired
    ),
)
async def update_pipeline(
    pipeline_id: PipelineID,
    body: PipelineUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> PipelineRead:
    """Admins only. `stage_ids` lists every live stage in its new order."""
    return _read(response, await service.update_pipeline(ctx, pipeline_id, body, if_match=if_match))


@router.delete(
    "/{pipeline_id}",
    summary="Delete a pipeline no deal is in",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        *DELETE_ERRORS,
        Forbidden,
        service.PipelineNotFound,
        service.DefaultPipelineRequired,
        service.PipelineInUse,
    ),
)
async def delete_pipeline(pipeline_id: PipelineID, ctx: Admin, if_match: IfMatch = None) -> None:
    """Admins only. A pipeline with deals, or the default one, is a 409."""
    await service.delete_pipeline(ctx, pipeline_id, if_match=if_match)


@router.post(
    "/{pipeline_id}/stages",
    summary="Add a stage",
    description="Admins only. Answers with the whole pipeline, the new stage in its place. A "
    f"pipeline holds at most {STAGES_PER_PIPELINE} stages, retired ones included (they stay "
    "for history): one more is a 409 `stage_limit`.",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden, service.PipelineNotFound, service.TooManyStages),
)
async def add_stage(
    pipeline_id: PipelineID, body: StageCreate, ctx: Admin, _: Idempotent, response: Response
) -> PipelineRead:
    return _read(response, await service.add_stage(ctx, pipeline_id, body))


@router.patch(
    "/{pipeline_id}/stages/{stage_id}",
    summary="Rename, re-weigh or move a stage",
    responses=problems(*WRITE_ERRORS, Forbidden, service.PipelineNotFound, service.StageNotFound),
)
async def update_stage(
    pipeline_id: PipelineID, stage_id: StageID, body: StageUpdate, ctx: Admin, response: Response
) -> PipelineRead:
    """Admins only. A stage's kind (open, won, lost) never changes."""
    return _read(response, await service.update_stage(ctx, pipeline_id, stage_id, body))


@router.delete(
    "/{pipeline_id}/stages/{stage_id}",
    summary="Retire a stage",
    responses=problems(
        *READ_ERRORS,
        Forbidden,
        service.PipelineNotFound,
        service.StageNotFound,
        service.StageInUse,
        service.StageKindRequired,
    ),
)
async def retire_stage(
    pipeline_id: PipelineID, stage_id: StageID, ctx: Admin, response: Response
) -> PipelineRead:
    """Admins only. The stage stays for history but takes no more deals. While deals are in
    it, or if it is the last open, won or lost stage, it is a 409: move the deals first."""
    return _read(response, await service.retire_stage(ctx, pipeline_id, stage_id))
