"""Pipelines and their stages: seeded per workspace, shaped by admins. A stage that deals are
in never vanishes under them."""

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import joinedload, selectinload

from app.core.concurrency import check_if_match
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.events import emit
from app.core.history import Changes, jsonable
from app.core.ids import new_id
from app.core.limits import (
    PIPELINES_PER_WORKSPACE,
    STAGES_PER_PIPELINE,
    LimitReached,
    ensure_room,
)
from app.core.models import table_of, utcnow
from app.deals import service as deals_service
from app.pipelines.models import Pipeline, Stage
from app.pipelines.schemas import (
    NewPipelineStage,
    PipelineCreate,
    PipelineUpdate,
    StageCreate,
    StageKind,
    StageUpdate,
)

DEFAULT_PIPELINE = "Bán hàng"
DEFAULT_STAGES = [
    ("Tiếp cận", "Prospecting", 10, StageKind.open),
    ("Đánh giá nhu cầu", "Qualification", 25, StageKind.open),
    ("Gửi báo giá", "Proposal", 50, StageKind.open),
    ("Thương lượng", "Negotiation", 75, StageKind.open),
    ("Thắng", "Won", 100, StageKind.won),
    ("Thua", "Lost", 0, StageKind.lost),
]
_STEP = 10  # positions leave room to slot a stage in between


class PipelineNotFound(NotFound):
    code, title = "pipeline_not_found", "Pipeline not found"


class StageNotFound(NotFound):
    code, title = "stage_not_found", "Stage not found"


class PipelineInUse(Conflict):
    code, title = "pipeline_in_use", "Deals (deleted ones too) are in this pipeline"


class StageInUse(Conflict):
    code, title = "stage_in_use", "Deals (deleted ones too) are in this stage: move them first"


class DefaultPipelineRequired(Conflict):
    code, title = "default_pipeline_required", "The workspace needs a default pipeline"


class StageKindRequired(Conflict):
    code, title = "stage_kind_required", "A pipeline needs an open, a won and a lost stage"


class TooManyPipelines(LimitReached):
    code, title = "pipeline_limit", "The workspace has as many pipelines as allowed"


class TooManyStages(LimitReached):
    code, title = "stage_limit", "The pipeline has as many stages as allowed"


def _stage(ctx: Ctx, pipeline_id: uuid.UUID, position: int, data: Any) -> Stage:
    return Stage(
        workspace_id=ctx.workspace_id,
        id=new_id(),
        pipeline_id=pipeline_id,
        name=data.name,
        name_en=data.name_en,
        probability=data.probability,
        kind=data.kind,
        position=position,
    )


def seed_default_pipeline(ctx: Ctx) -> None:
    """A new workspace's sales pipeline, stage names in Vietnamese and English."""
    pipeline = Pipeline(
        workspace_id=ctx.workspace_id, id=new_id(), name=DEFAULT_PIPELINE, is_default=True
    )
    stages = [
        NewPipelineStage(name=vi, name_en=en, probability=probability, kind=kind)
        for vi, en, probability, kind in DEFAULT_STAGES
    ]
    _attach_stages(ctx, pipeline, stages)
    ctx.session.add(pipeline)


def _attach_stages(ctx: Ctx, pipeline: Pipeline, stages: list[NewPipelineStage]) -> None:
    kinds = Counter(stage.kind for stage in stages)
    if not all(kinds[kind] for kind in StageKind):
        raise Unprocessable(
            [{"field": "stages", "message": "needs at least one open, one won and one lost stage"}]
        )
    pipeline.stages = [
        _stage(ctx, pipeline.id, position * _STEP, data)
        for position, data in enumerate(stages, start=1)
    ]


async def list_pipelines(ctx: Ctx) -> list[Pipeline]:
    """Live pipelines, the default first, each with its stages in order."""
    found = await ctx.session.scalars(
        select(Pipeline)
        .where(Pipeline.workspace_id == ctx.workspace_id, Pipeline.deleted_at.is_(None))
        .options(selectinload(Pipeline.stages.and_(Stage.workspace_id == ctx.workspace_id)))
        .order_by(Pipeline.is_default.desc(), Pipeline.name, Pipeline.id)
    )
    return list(found)


# A live pipeline of this workspace with its stages, read in one statement (a join: a deal's
# creation waits on it, and the stages are few). Built once, as the ways it is locked: only
# the workspace and the pipeline are bound per call.
_LIVE = (
    select(Pipeline)
    .where(Pipeline.workspace_id == bindparam("workspace_id"), Pipeline.deleted_at.is_(None))
    .options(joinedload(Pipeline.stages))
)
_BY_ID = _LIVE.where(Pipeline.id == bindparam("pipeline_id"))
_BY_ID_LOCKED = {
    (False, False): _BY_ID,
    # Stage changes queue per pipeline; If-Match is checked under the lock.
    (True, False): _BY_ID.with_for_update(of=Pipeline),
    (False, True): _BY_ID.with_for_update(of=Pipeline, read=True),
}
_DEFAULT_SHARED = _LIVE.where(Pipeline.is_default).with_for_update(of=Pipeline, read=True)


async def _one(ctx: Ctx, stmt: Select[Pipeline], **params: Any) -> Pipeline | None:
    params["workspace_id"] = ctx.workspace_id
    return (await ctx.session.execute(stmt, params)).unique().scalar_one_or_none()


async def get_pipeline(
    ctx: Ctx, pipeline_id: uuid.UUID, *, for_update: bool = False, for_share: bool = False
) -> Pipeline:
    """A live pipeline of this workspace with its stages; else a 404. `for_share`: a deal is
    about to go into it, so it can't be deleted or lose a stage until this transaction ends."""
    stmt = _BY_ID_LOCKED[for_update, for_share and not for_update]
    found = await _one(ctx, stmt, pipeline_id=pipeline_id)
    if found is None:
        raise PipelineNotFound()
    return found


async def default_pipeline(ctx: Ctx) -> Pipeline:
    """Where a deal goes when none is named; a deal goes into it (see get_pipeline)."""
    found = await _one(ctx, _DEFAULT_SHARED)
    if found is None:  # only if an admin removed it by hand: say so rather than guess
        raise DefaultPipelineRequired()
    return found


def stage_of(pipeline: Pipeline, stage_id: uuid.UUID) -> Stage:
    for stage in pipeline.stages:
        if stage.id == stage_id:
            return stage
    raise StageNotFound()


def first_open_stage(pipeline: Pipeline) -> Stage:
    """A new deal's stage when none is named."""
    return next(s for s in pipeline.stages if s.is_active and s.kind == StageKind.open)


async def _unset_default(ctx: Ctx) -> None:
    # The old default reads differently now: its version moves too, so its ETag does.
    await ctx.session.execute(
        update(Pipeline)
        .where(Pipeline.workspace_id == ctx.workspace_id, Pipeline.is_default)
        .values(is_default=False, version=Pipeline.version + 1, updated_at=utcnow())
    )


async def create_pipeline(ctx: Ctx, data: PipelineCreate) -> Pipeline:
    """A pipeline and its stages, in the order given. At most PIPELINES_PER_WORKSPACE live
    pipelines: 409 `pipeline_limit` beyond, delete one first."""
    await ensure_room(
        ctx,
        table_of(Pipeline),
        Pipeline.deleted_at.is_(None),
        cap=PIPELINES_PER_WORKSPACE,
        error=TooManyPipelines(
            f"A workspace has at most {PIPELINES_PER_WORKSPACE} pipelines; delete one first"
        ),
    )
    if data.is_default:
        await _unset_default(ctx)
    pipeline = Pipeline(
        workspace_id=ctx.workspace_id, id=new_id(), name=data.name, is_default=data.is_default
    )
    _attach_stages(ctx, pipeline, data.stages)
    ctx.session.add(pipeline)
    await ctx.session.flush()
    stages = [_stage_shown(stage) for stage in pipeline.stages]
    created = {"name": {"old": None, "new": pipeline.name}, "stages": {"old": None, "new": stages}}
    emit(ctx, "pipeline.created", "pipeline", pipeline.id, created)
    return pipeline


def _touch(ctx: Ctx, pipeline: Pipeline, changes: Changes, action: str = "updated") -> None:
    """Stages are part of what a pipeline reads as: a change to one bumps its version, and is
    the pipeline's `pipeline.updated` event."""
    pipeline.updated_at = utcnow()
    emit(ctx, f"pipeline.{action}", "pipeline", pipeline.id, changes)


def _stage_shown(stage: Stage) -> dict[str, Any]:
    return {"id": str(stage.id), "name": stage.name, "kind": stage.kind, "position": stage.position}


async def update_pipeline(
    ctx: Ctx, pipeline_id: uuid.UUID, data: PipelineUpdate, *, if_match: str | None
) -> Pipeline:
    """Rename, make default, or reorder its live stages (`stage_ids`, all of them)."""
    pipeline = await get_pipeline(ctx, pipeline_id, for_update=True)
    check_if_match(pipeline.version, if_match)
    values = data.model_dump(exclude_unset=True)
    before = {"name": pipeline.name, "is_default": pipeline.is_default}
    if values.get("is_default") is False and pipeline.is_default:
        raise DefaultPipelineRequired("Make another pipeline the default instead")
    if values.get("is_default") and not pipeline.is_default:
        await _unset_default(ctx)
        await ctx.session.refresh(pipeline, ["is_default"])
        pipeline.is_default = True
    if "name" in values:
        pipeline.name = values["name"]
    if "stage_ids" in values:
        _reorder(pipeline, values["stage_ids"])
    changes: Changes = {
        name: {"old": old, "new": getattr(pipeline, name)}
        for name, old in before.items()
        if getattr(pipeline, name) != old
    }
    if "stage_ids" in values:
        changes["stage_ids"] = {"old": None, "new": jsonable(values["stage_ids"])}
    _touch(ctx, pipeline, changes)
    await ctx.session.flush()
    return pipeline


def _reorder(pipeline: Pipeline, stage_ids: list[uuid.UUID]) -> None:
    live = {stage.id: stage for stage in pipeline.stages if stage.is_active}
    if len(stage_ids) != len(live) or set(stage_ids) != set(live):
        raise Unprocessable(
            [{"field": "stage_ids", "message": "list every live stage of the pipeline, once"}]
        )
    for position, stage_id in enumerate(stage_ids, start=1):
        live[stage_id].position = position * _STEP
    pipeline.stages.sort(key=lambda s: (s.position, s.id))


async def delete_pipeline(ctx: Ctx, pipeline_id: uuid.UUID, *, if_match: str | None) -> None:
    """Removes a pipeline no deal is in; the default one stays until another takes over."""
    pipeline = await get_pipeline(ctx, pipeline_id, for_update=True)
    check_if_match(pipeline.version, if_match)
    if pipeline.is_default:
        raise DefaultPipelineRequired("Make another pipeline the default first")
    if await deals_service.any_in_pipeline(ctx, pipeline.id):
        raise PipelineInUse()
    pipeline.deleted_at = utcnow()
    _touch(
        ctx,
        pipeline,
        {"deleted_at": {"old": None, "new": jsonable(pipeline.deleted_at)}},
        "deleted",
    )
    await ctx.session.flush()


def _place(pipeline: Pipeline, stage: Stage, position: int) -> None:
    """Put `stage` at `position`, before the stage that held it: that one, and each after it
    it would then run into, moves a step down. Stages read in position order."""
    stage.position = position
    taken = position
    others = sorted(
        (s for s in pipeline.stages if s is not stage and s.position >= position),
        key=lambda s: (s.position, s.id),
    )
    for other in others:
        if other.position > taken:
            break
        other.position = taken + _STEP
        taken = other.position
    pipeline.stages.sort(key=lambda s: (s.position, s.id))


async def add_stage(ctx: Ctx, pipeline_id: uuid.UUID, data: StageCreate) -> Pipeline:
    """A new stage, at `position` (the stage there and those after it shift down) or after
    the last one. At most STAGES_PER_PIPELINE stages, retired ones included (they stay for
    history and the pipeline reads with them): 409 `stage_limit` beyond."""
    pipeline = await get_pipeline(ctx, pipeline_id, for_update=True)
    if len(pipeline.stages) >= STAGES_PER_PIPELINE:
        raise TooManyStages(
            f"A pipeline has at most {STAGES_PER_PIPELINE} stages, retired ones included; "
            "make a new pipeline instead"
        )
    last = max((s.position for s in pipeline.stages), default=0)
    position = data.position if data.position is not None else last + _STEP
    stage = _stage(ctx, pipeline.id, position, data)
    pipeline.stages.append(stage)
    _place(pipeline, stage, position)
    await ctx.session.flush()
    _touch(ctx, pipeline, {"stage_added": _stage_shown(stage)})
    return pipeline


async def update_stage(
    ctx: Ctx, pipeline_id: uuid.UUID, stage_id: uuid.UUID, data: StageUpdate
) -> Pipeline:
    """Rename, re-weigh or move one stage; moved onto another stage's position, it goes
    before that stage, which shifts down with those after it."""
    pipeline = await get_pipeline(ctx, pipeline_id, for_update=True)
    stage = stage_of(pipeline, stage_id)
    values = data.model_dump(exclude_unset=True)
    position = values.pop("position", None)
    for field, value in values.items():
        setattr(stage, field, value)
    if position is not None:
        _place(pipeline, stage, position)
    _touch(ctx, pipeline, {"stage_changed": _stage_shown(stage)})
    await ctx.session.flush()
    return pipeline


async def retire_stage(ctx: Ctx, pipeline_id: uuid.UUID, stage_id: uuid.UUID) -> Pipeline:
    """A retired stage stays for the history that mentions it but takes no more deals. Refused
    (409) while deals are in it, or when it is the pipeline's last open, won or lost stage."""
    pipeline = await get_pipeline(ctx, pipeline_id, for_update=True)
    stage = stage_of(pipeline, stage_id)
    if not stage.is_active:
        return pipeline
    if await deals_service.any_in_stage(ctx, stage.id):
        raise StageInUse()
    same_kind = [s for s in pipeline.stages if s.is_active and s.kind == stage.kind]
    if len(same_kind) == 1:
        raise StageKindRequired()
    stage.is_active = False
    _touch(ctx, pipeline, {"stage_retired": _stage_shown(stage)})
    await ctx.session.flush()
    return pipeline
