"""Deals and their moves through pipeline stages: the business rules, and the only place that
writes them."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, exists, select

from app.accounts import service as accounts_service
from app.contacts import service as contacts_service
from app.core import records
from app.core.context import Ctx
from app.core.errors import NotFound, Unprocessable
from app.core.events import emit
from app.core.history import Changes
from app.core.ids import new_id
from app.core.models import table_of, utcnow
from app.core.money import in_currency
from app.core.pagination import (
    Keyset,
    Rows,
    at_least,
    at_most,
    before,
    equals,
    has_all,
    one_of,
)
from app.core.records import Patched, Resource
from app.core.repoint import repoint
from app.core.tenancy import Workspace
from app.core.workspace_settings import cached
from app.custom_fields import service as custom_fields
from app.deals.models import Deal, StageChange
from app.deals.schemas import (
    DealCreate,
    DealQuery,
    DealRead,
    DealUpdate,
    MoveToStage,
    StageHistory,
    StageHistoryQuery,
    StageMove,
)
from app.pipelines import service as pipelines_service
from app.pipelines.models import Pipeline, Stage
from app.pipelines.schemas import StageKind
from app.users import service as users_service


class DealNotFound(NotFound):
    code, title = "deal_not_found", "Deal not found"


_HISTORY = (
    "name", "account_id", "contact_id", "pipeline_id", "stage_id", "amount", "currency",
    "probability", "expected_close_date", "owner_id", "status", "closed_at", "lost_reason",
    "source_lead_id", "tags", "custom_fields",
)  # fmt: skip
DEALS = Resource(
    model=Deal,
    name="deal",
    read=DealRead,
    query=DealQuery,
    not_found=DealNotFound,
    filters={
        "pipeline_id": equals("pipeline_id"),
        "stage_id": one_of("stage_id"),
        "status": one_of("status"),
        "owner_id": equals("owner_id"),
        "account_id": equals("account_id"),
        "contact_id": equals("contact_id"),
        "amount_min": at_least("amount"),
        "amount_max": at_most("amount"),
        "expected_close_after": at_least("expected_close_date"),
        "expected_close_before": before("expected_close_date"),
        "tag": has_all("tags"),
    },
    searched=("name",),
    history=_HISTORY,
    owner_check=users_service.check_assignable_owner,
    custom_fields=custom_fields.validate_values,
)


_STAGE_CHANGES = table_of(StageChange)


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable([{"field": field, "message": message}])


async def list_account_deals(ctx: Ctx, account_id: uuid.UUID, query: DealQuery) -> Rows[Any]:
    """The deals of an account the actor can see (404 otherwise) that the actor can see."""
    await records.get(ctx, accounts_service.ACCOUNTS, account_id)
    return await records.list_page(ctx, DEALS, query.model_copy(update={"account_id": account_id}))


async def _pipeline(ctx: Ctx, pipeline_id: uuid.UUID | None) -> Pipeline:
    if pipeline_id is None:
        return await pipelines_service.default_pipeline(ctx)
    try:
        return await pipelines_service.get_pipeline(ctx, pipeline_id, for_share=True)
    except pipelines_service.PipelineNotFound:
        raise _invalid("pipeline_id", "no such pipeline")


def _live_stage(pipeline: Pipeline, stage_id: uuid.UUID | None) -> Stage:
    """The named stage of this pipeline (its first open one if none is named): a stage of
    another pipeline, or a retired one, is a 422."""
    if stage_id is None:
        return pipelines_service.first_open_stage(pipeline)
    try:
        stage = pipelines_service.stage_of(pipeline, stage_id)
    except pipelines_service.StageNotFound:
        raise _invalid("stage_id", "not a stage of the deal's pipeline")
    if not stage.is_active:
        raise _invalid("stage_id", "this stage is retired")
    return stage


def _stage_values(stage: Stage, lost_reason: str | None, now: datetime) -> dict[str, Any]:
    """What being in `stage` means for a deal: its status, probability, close time and reason.
    Won and lost close it; an open stage (re)opens it."""
    if stage.kind == StageKind.lost and not lost_reason:
        raise _invalid("lost_reason", "say why the deal was lost")
    return {
        "pipeline_id": stage.pipeline_id,
        "stage_id": stage.id,
        "status": stage.kind,
        "probability": stage.probability,
        "closed_at": None if stage.kind == StageKind.open else now,
        "lost_reason": lost_reason if stage.kind == StageKind.lost else None,
    }


async def _check_references(ctx: Ctx, values: dict[str, Any]) -> None:
    """The account and contact are live records the actor can see (422 otherwise)."""
    if values.get("account_id") is not None:
        await records.referenced(
            ctx, accounts_service.ACCOUNTS, values["account_id"], field="account_id"
        )
    if values.get("contact_id") is not None:
        await records.referenced(
            ctx, contacts_service.CONTACTS, values["contact_id"], field="contact_id"
        )


def _money(values: dict[str, Any], amount: Any, currency: str) -> None:
    if amount is None:
        return
    try:
        values["amount"] = in_currency(amount, currency)
    except ValueError as error:
        raise _invalid("amount", str(error))


async def _workspace_currency(ctx: Ctx) -> str:
    async def load() -> str:
        workspace = await ctx.session.get(Workspace, ctx.workspace_id)
        return workspace.default_currency if workspace else "VND"

    return await cached(ctx, "default_currency", load)


async def _enter_stage(
    ctx: Ctx, deal_id: uuid.UUID, from_stage_id: uuid.UUID | None, to_stage_id: uuid.UUID,
    now: datetime,
) -> None:  # fmt: skip
    """Keep the move, with how long the deal sat in the stage it leaves."""
    seconds = None
    if from_stage_id is not None:
        entered = await ctx.session.scalar(
            select(StageChange.moved_at)
            .where(StageChange.workspace_id == ctx.workspace_id, StageChange.deal_id == deal_id)
            .order_by(StageChange.moved_at.desc(), StageChange.id.desc())
            .limit(1)
        )
        seconds = int((now - entered).total_seconds()) if entered else None
    move = _stage_move(ctx, deal_id, from_stage_id, to_stage_id, now, seconds)
    ctx.session.add(StageChange(**move))


def _stage_move(
    ctx: Ctx, deal_id: uuid.UUID, from_stage_id: uuid.UUID | None, to_stage_id: uuid.UUID,
    now: datetime, seconds: int | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "workspace_id": ctx.workspace_id,
        "deal_id": deal_id,
        "from_stage_id": from_stage_id,
        "to_stage_id": to_stage_id,
        "moved_at": now,
        "moved_by": ctx.actor.user_id,
        "seconds_in_previous_stage": seconds,
    }


async def create_deal(
    ctx: Ctx, data: DealCreate, *, source_lead_id: uuid.UUID | None = None
) -> Deal:
    """In the named pipeline (default: the default one) and stage (default: its first open
    one); owner defaults to the creator, currency to the workspace's, probability to the
    stage's."""
    pipeline = await _pipeline(ctx, data.pipeline_id)
    stage = _live_stage(pipeline, data.stage_id)
    now = utcnow()
    values: dict[str, Any] = data.model_dump(exclude={"pipeline_id", "stage_id", "lost_reason"})
    values.update(_stage_values(stage, data.lost_reason, now))
    if data.probability is not None:
        values["probability"] = data.probability
    await _check_references(ctx, values)
    values["currency"] = data.currency or await _workspace_currency(ctx)
    _money(values, data.amount, values["currency"])
    values.update(id=new_id(), source_lead_id=source_lead_id, created_at=now, updated_at=now)
    # Its first stage move, from no stage, goes in with it: one statement.
    entered = _stage_move(ctx, values["id"], None, stage.id, now, None)
    deal = await records.create(ctx, DEALS, values, with_rows=[(_STAGE_CHANGES, entered)])
    _announce_close(ctx, deal, {"stage_id": {"old": None, "new": str(stage.id)}})
    if stage.kind == StageKind.won:
        await accounts_service.make_customer(ctx, deal.account_id)
        await ctx.session.flush()
    return deal


async def _after_patch(ctx: Ctx, patched: Patched[Deal], now: datetime) -> Patched[Deal]:
    """A stage change is also a stage move; into a won stage, it makes the account a customer."""
    deal, moved = patched.record, patched.changes.get("stage_id")
    if moved is not None:
        stage_changes = {k: v for k, v in patched.changes.items() if k in _STAGE_FIELDS}
        emit(ctx, "deal.stage_changed", DEALS.name, deal.id, stage_changes)
        if "status" in patched.changes:
            _announce_close(ctx, deal, stage_changes)
        from_stage = uuid.UUID(moved["old"]) if moved["old"] else None
        await _enter_stage(ctx, deal.id, from_stage, deal.stage_id, now)
        if deal.status == StageKind.won:
            await accounts_service.make_customer(ctx, deal.account_id)
        await ctx.session.flush()
    return patched


_STAGE_FIELDS = ("stage_id", "status", "probability", "closed_at", "lost_reason")


def _announce_close(ctx: Ctx, deal: Deal, changes: Changes) -> None:
    """`deal.won` / `deal.lost` when a deal lands in a closing stage (besides its
    `deal.stage_changed`): what workflows and integrators most often wait for."""
    if deal.status in (StageKind.won, StageKind.lost):
        emit(ctx, f"deal.{deal.status}", DEALS.name, deal.id, changes)


def _current_lost_reason(deal: Deal, values: dict[str, Any]) -> str | None:
    if "lost_reason" in values:
        return values["lost_reason"]  # type: ignore[no-any-return]
    return deal.lost_reason if deal.status == StageKind.lost else None


async def move_deal_to_stage(
    ctx: Ctx, deal_id: uuid.UUID, data: MoveToStage, *, if_match: str | None
) -> Patched[Deal]:
    """Move the deal to another stage of its pipeline: won and lost close it (a lost stage
    needs a reason), an open stage reopens it. Kept in its stage history and history."""
    now = utcnow()

    async def rules(deal: Deal, values: dict[str, Any]) -> dict[str, Any]:
        stage = _live_stage(await _pipeline(ctx, deal.pipeline_id), data.stage_id)
        if stage.id == deal.stage_id:
            return {}
        reason = data.lost_reason or _current_lost_reason(deal, {})
        return _stage_values(stage, reason, now)

    patched = await records.patch(ctx, DEALS, deal_id, {}, if_match=if_match, rules=rules)
    return await _after_patch(ctx, patched, now)


async def update_deal(
    ctx: Ctx, deal_id: uuid.UUID, data: DealUpdate, *, if_match: str | None
) -> Patched[Deal]:
    """Applies only the fields sent; a stage change follows the stage rules."""
    now = utcnow()

    async def rules(deal: Deal, values: dict[str, Any]) -> dict[str, Any]:
        if "pipeline_id" in values or "stage_id" in values:
            pipeline_id = values.pop("pipeline_id", deal.pipeline_id)
            stage_id = values.pop("stage_id", None)
            if stage_id is None and pipeline_id == deal.pipeline_id:
                stage_id = deal.stage_id
            stage = _live_stage(await _pipeline(ctx, pipeline_id), stage_id)
            if stage.id != deal.stage_id:
                moved = _stage_values(stage, _current_lost_reason(deal, values), now)
                if "probability" in values:  # sent with the move: it wins over the stage's
                    moved.pop("probability")
                values.update(moved)
        await _check_references(
            ctx, {k: v for k, v in values.items() if k in ("account_id", "contact_id")}
        )
        if "amount" in values or "currency" in values:
            currency = values.get("currency", deal.currency)
            _money(values, values.get("amount", deal.amount), currency)
        return values

    values = data.model_dump(exclude_unset=True)
    patched = await records.patch(ctx, DEALS, deal_id, values, if_match=if_match, rules=rules)
    return await _after_patch(ctx, patched, now)


async def stage_history(ctx: Ctx, deal_id: uuid.UUID, query: StageHistoryQuery) -> StageHistory:
    """One page of the deal's stage moves, oldest first, its creation (from no stage) the
    first; keyset on (moved_at, id) like every list."""
    deal = await records.get(ctx, DEALS, deal_id, include_deleted=True)
    keyset = Keyset.of(query, {"moved_at": StageChange.moved_at})
    moves = select(StageChange.__table__).where(
        StageChange.workspace_id == ctx.workspace_id, StageChange.deal_id == deal.id
    )
    page = keyset.page_of(moves, StageChange.moved_at, StageChange.id)
    rows = keyset.rows(list((await ctx.session.execute(page)).mappings()), "moved_at")
    return StageHistory(
        data=[StageMove.model_validate(dict(row)) for row in rows.data],
        next_cursor=rows.next_cursor,
    )


async def any_in_pipeline(ctx: Ctx, pipeline_id: uuid.UUID) -> bool:
    """Whether a deal is in the pipeline. Deleted deals count: a restored deal must find its
    pipeline still there."""
    return await _any_deal(ctx, Deal.pipeline_id == pipeline_id)


async def any_in_stage(ctx: Ctx, stage_id: uuid.UUID) -> bool:
    """Whether a deal is in the stage, deleted deals included (as `any_in_pipeline`)."""
    return await _any_deal(ctx, Deal.stage_id == stage_id)


async def _any_deal(ctx: Ctx, condition: ColumnElement[bool]) -> bool:
    found = select(exists().where(Deal.workspace_id == ctx.workspace_id, condition))
    return bool(await ctx.session.scalar(found))


# What a deal may be moved between by a merge: its account, its contact, the lead it came from.
MovedDealLink = Literal["account_id", "contact_id", "source_lead_id"]


async def move_deals(
    ctx: Ctx, link: MovedDealLink, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID
) -> list[uuid.UUID]:
    """The deals whose `link` is any of `from_ids` (deleted ones too) point at `to_id` from
    now on, each move in the deal's history (a merge's part: the records were checked)."""
    return await repoint(ctx, DEALS, link, from_ids, to_id)
