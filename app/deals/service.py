"""Deals and their moves through pipeline stages: the business rules, and the only place that
writes them."""

import uuid
from datetime import datetime
from typing import Any

from asyncpg import Record
from sqlalchemy import ColumnElement, exists, select

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.contacts import service as contacts_service
from app.core.concurrency import check_if_match
from app.core.context import Ctx
from app.core.errors import NotFound, Unprocessable
from app.core.history import History, HistoryQuery, apply_changes, history_of, insert_with_history
from app.core.models import utcnow
from app.core.money import in_currency
from app.core.pagination import (
    Keyset,
    Rows,
    apply_filters,
    at_least,
    at_most,
    before,
    columns_of,
    equals,
    has_all,
    one_of,
    paginate,
)
from app.core.records import get_visible, restore, restrict_to_visible, soft_delete
from app.core.search import search_text
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

RESOURCE = "deal"
_DEALS = Deal.__table__.c
_LISTED = columns_of(Deal.__table__, DealRead)
SORTS = {"created_at": _DEALS.created_at, "updated_at": _DEALS.updated_at, "name": _DEALS.name}
FILTERS = {
    "pipeline_id": equals(_DEALS.pipeline_id),
    "stage_id": one_of(_DEALS.stage_id),
    "status": one_of(_DEALS.status),
    "owner_id": equals(_DEALS.owner_id),
    "account_id": equals(_DEALS.account_id),
    "contact_id": equals(_DEALS.contact_id),
    "amount_min": at_least(_DEALS.amount),
    "amount_max": at_most(_DEALS.amount),
    "expected_close_after": at_least(_DEALS.expected_close_date),
    "expected_close_before": before(_DEALS.expected_close_date),
    "tag": has_all(_DEALS.tags),
    "created_after": at_least(_DEALS.created_at),
    "created_before": before(_DEALS.created_at),
}
_HISTORY_FIELDS = [
    "name", "account_id", "contact_id", "pipeline_id", "stage_id", "amount", "currency",
    "probability", "expected_close_date", "owner_id", "status", "closed_at", "lost_reason",
    "source_lead_id", "tags", "custom_fields",
]  # fmt: skip


class DealNotFound(NotFound):
    code, title = "deal_not_found", "Deal not found"


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable([{"field": field, "message": message}])


async def list_deals(ctx: Ctx, query: DealQuery) -> Rows[Record]:
    """Deals visible to the actor, filtered, sorted and paginated by cursor."""
    stmt = restrict_to_visible(select(*_LISTED), Deal, ctx.actor)
    stmt = apply_filters(stmt, query, FILTERS)
    return await paginate(
        ctx, stmt, query, model=Deal, sorts=SORTS, search_column=_DEALS.search_text
    )


async def list_account_deals(ctx: Ctx, account_id: uuid.UUID, query: DealQuery) -> Rows[Record]:
    """The deals of an account the actor can see (404 otherwise) that the actor can see."""
    await accounts_service.get_account(ctx, account_id)
    return await list_deals(ctx, query.model_copy(update={"account_id": account_id}))


async def get_deal(
    ctx: Ctx, deal_id: uuid.UUID, *, include_deleted: bool = False, for_update: bool = False
) -> Deal:
    """A visible deal; another workspace's or an invisible one is a 404."""
    return await get_visible(
        ctx,
        Deal,
        deal_id,
        not_found=DealNotFound,
        include_deleted=include_deleted,
        for_update=for_update,
    )


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
        try:
            await accounts_service.check_account(ctx, values["account_id"])
        except accounts_service.AccountNotFound:
            raise _invalid("account_id", "not an account you can see")
    if values.get("contact_id") is not None:
        try:
            await contacts_service.check_contact(ctx, values["contact_id"])
        except contacts_service.ContactNotFound:
            raise _invalid("contact_id", "not a contact you can see")


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
            .where(StageChange.deal_id == deal_id)
            .order_by(StageChange.moved_at.desc(), StageChange.id.desc())
            .limit(1)
        )
        seconds = int((now - entered).total_seconds()) if entered else None
    ctx.session.add(
        StageChange(
            workspace_id=ctx.workspace_id,
            deal_id=deal_id,
            from_stage_id=from_stage_id,
            to_stage_id=to_stage_id,
            moved_at=now,
            moved_by=ctx.actor.user_id,
            seconds_in_previous_stage=seconds,
        )
    )


async def _won(ctx: Ctx, account_id: uuid.UUID | None) -> None:
    """A prospect's first won deal makes it a customer, in the account's history too."""
    if account_id is None:
        return
    account = await ctx.session.get(
        Account, (ctx.workspace_id, account_id), with_for_update=True, populate_existing=True
    )
    if account is not None and account.type == "prospect":
        apply_changes(ctx, accounts_service.RESOURCE, account, {"type": "customer"})


async def create_deal(
    ctx: Ctx, data: DealCreate, *, source_lead_id: uuid.UUID | None = None
) -> Any:
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
    values["owner_id"] = data.owner_id or ctx.actor.user_id
    await users_service.check_assignable_owner(ctx, values["owner_id"])
    await _check_references(ctx, values)
    values["currency"] = data.currency or await _workspace_currency(ctx)
    _money(values, data.amount, values["currency"])
    values["custom_fields"] = await custom_fields.validate_values(ctx, RESOURCE, data.custom_fields)
    values.update(source_lead_id=source_lead_id, search_text=search_text(data.name))
    values.update(created_at=now, updated_at=now)
    deal = await insert_with_history(ctx, Deal, values, resource=RESOURCE, fields=_HISTORY_FIELDS)
    await _enter_stage(ctx, deal.id, None, stage.id, now)
    if stage.kind == StageKind.won:
        await _won(ctx, deal.account_id)
    await ctx.session.flush()
    return deal


async def _apply(ctx: Ctx, deal: Deal, values: dict[str, Any]) -> Deal:
    """Apply changed fields in one history entry; a stage change is also a stage move."""
    from_stage, now = deal.stage_id, utcnow()
    if apply_changes(ctx, RESOURCE, deal, values):
        deal.search_text = search_text(deal.name)
        await ctx.session.flush()
    if deal.stage_id != from_stage:
        await _enter_stage(ctx, deal.id, from_stage, deal.stage_id, now)
        if deal.status == StageKind.won:
            await _won(ctx, deal.account_id)
        await ctx.session.flush()
    return deal


def _current_lost_reason(deal: Deal, values: dict[str, Any]) -> str | None:
    if "lost_reason" in values:
        return values["lost_reason"]  # type: ignore[no-any-return]
    return deal.lost_reason if deal.status == StageKind.lost else None


async def move_deal_to_stage(
    ctx: Ctx, deal_id: uuid.UUID, data: MoveToStage, *, if_match: str | None
) -> Deal:
    """Move the deal to another stage of its pipeline: won and lost close it (a lost stage
    needs a reason), an open stage reopens it. Kept in its stage history and history."""
    deal = await get_deal(ctx, deal_id, for_update=True)
    check_if_match(deal.version, if_match)
    pipeline = await _pipeline(ctx, deal.pipeline_id)
    stage = _live_stage(pipeline, data.stage_id)
    if stage.id == deal.stage_id:
        return deal
    reason = data.lost_reason or _current_lost_reason(deal, {})
    return await _apply(ctx, deal, _stage_values(stage, reason, utcnow()))


async def update_deal(
    ctx: Ctx, deal_id: uuid.UUID, data: DealUpdate, *, if_match: str | None
) -> Deal:
    """Applies only the fields sent; a stage change follows the stage rules."""
    deal = await get_deal(ctx, deal_id, for_update=True)
    check_if_match(deal.version, if_match)
    values = data.model_dump(exclude_unset=True)
    if "pipeline_id" in values or "stage_id" in values:
        pipeline_id = values.pop("pipeline_id", deal.pipeline_id)
        stage_id = values.pop("stage_id", None)
        if stage_id is None and pipeline_id == deal.pipeline_id:
            stage_id = deal.stage_id
        stage = _live_stage(await _pipeline(ctx, pipeline_id), stage_id)
        if stage.id != deal.stage_id:
            moved = _stage_values(stage, _current_lost_reason(deal, values), utcnow())
            if "probability" in values:  # sent with the move: it wins over the stage's
                moved.pop("probability")
            values.update(moved)
    if values.get("owner_id") != deal.owner_id:
        await users_service.check_assignable_owner(ctx, values.get("owner_id"))
    await _check_references(
        ctx, {k: v for k, v in values.items() if k in ("account_id", "contact_id")}
    )
    if "amount" in values or "currency" in values:
        currency = values.get("currency", deal.currency)
        _money(values, values.get("amount", deal.amount), currency)
    if "custom_fields" in values:
        values["custom_fields"] = await custom_fields.validate_values(
            ctx, RESOURCE, values["custom_fields"], existing=deal.custom_fields
        )
    return await _apply(ctx, deal, values)


async def delete_deal(ctx: Ctx, deal_id: uuid.UUID, *, if_match: str | None) -> None:
    """Soft delete: hidden from lists, kept with its history, restorable."""
    deal = await get_deal(ctx, deal_id, for_update=True)
    soft_delete(ctx, RESOURCE, deal, if_match=if_match)
    await ctx.session.flush()


async def restore_deal(ctx: Ctx, deal_id: uuid.UUID) -> Deal:
    """Brings a soft-deleted deal back; restoring a live one changes nothing."""
    deal = await get_deal(ctx, deal_id, include_deleted=True, for_update=True)
    restore(ctx, RESOURCE, deal)
    await ctx.session.flush()
    return deal


async def deal_history(ctx: Ctx, deal_id: uuid.UUID, query: HistoryQuery) -> History:
    """Every change to the deal, oldest first."""
    deal = await get_deal(ctx, deal_id, include_deleted=True)
    return await history_of(ctx, RESOURCE, deal.id, query)


async def stage_history(ctx: Ctx, deal_id: uuid.UUID, query: StageHistoryQuery) -> StageHistory:
    """One page of the deal's stage moves, oldest first, its creation (from no stage) the
    first; keyset on (moved_at, id) like every list."""
    deal = await get_deal(ctx, deal_id, include_deleted=True)
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
