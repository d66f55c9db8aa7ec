"""Lead statuses: seeded per workspace, managed by admins; code compares keys and categories."""

import uuid
from typing import NamedTuple

from sqlalchemy import exists, select

from app.core.concurrency import check_if_match
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.history import apply_changes, record_change, record_creation
from app.core.limits import LEAD_STATUSES_PER_WORKSPACE, LimitReached, ensure_room
from app.core.models import table_of
from app.core.records import flush_or_conflict, read_rows
from app.core.workspace_settings import cached, settings_changed
from app.leads.models import Lead, LeadStatus
from app.leads.schemas import LeadStatusCreate, LeadStatusUpdate, StatusCategory

DEFAULT_STATUSES = [
    ("raw", StatusCategory.raw, "Data thô", "Raw data"),
    ("new", StatusCategory.open, "Mới", "New"),
    ("contacted", StatusCategory.open, "Đã tìm hiểu", "Contacted"),
    ("unreachable", StatusCategory.open, "Không tiếp cận", "Unreachable"),
    ("wrong_target", StatusCategory.disqualified, "Sai đối tượng", "Wrong target"),
    ("potential", StatusCategory.qualified, "Tiềm năng", "Potential"),
    ("hot", StatusCategory.qualified, "Nóng", "Hot"),
    ("converted", StatusCategory.converted, "Chốt", "Converted"),
    ("disqualified", StatusCategory.disqualified, "Loại", "Disqualified"),
]
DEFAULT_KEY = "new"


class LeadStatusNotFound(NotFound):
    code, title = "lead_status_not_found", "Lead status not found"


class LeadStatusKeyTaken(Conflict):
    code, title = "lead_status_key_taken", "A status with this key exists"


class LeadStatusInUse(Conflict):
    code, title = "lead_status_in_use", "Leads still have this status"


class TooManyLeadStatuses(LimitReached):
    code, title = "lead_status_limit", "The workspace has as many lead statuses as allowed"


def seed_statuses(ctx: Ctx) -> None:
    for position, (key, category, vi, en) in enumerate(DEFAULT_STATUSES, start=1):
        ctx.session.add(
            LeadStatus(
                workspace_id=ctx.workspace_id,
                key=key,
                category=category,
                position=position * 10,
                label_vi=vi,
                label_en=en,
            )
        )


async def list_statuses(ctx: Ctx) -> list[LeadStatus]:
    return list(
        await ctx.session.scalars(
            select(LeadStatus)
            .where(LeadStatus.workspace_id == ctx.workspace_id)
            .order_by(LeadStatus.position, LeadStatus.key)
        )
    )


async def get_status(ctx: Ctx, status_id: uuid.UUID) -> LeadStatus:
    found = await ctx.session.get(LeadStatus, (ctx.workspace_id, status_id))
    if found is None:
        raise LeadStatusNotFound()
    return found


class StatusInfo(NamedTuple):
    """What assigning and converting need to know of a status (cached per workspace)."""

    key: str
    category: str
    is_active: bool
    position: int


_STATUS = LeadStatus.__table__.c


async def _statuses_by_key(ctx: Ctx) -> dict[str, StatusInfo]:
    async def load() -> dict[str, StatusInfo]:
        rows = await read_rows(
            ctx,
            select(_STATUS.key, _STATUS.category, _STATUS.is_active, _STATUS.position).where(
                _STATUS.workspace_id == ctx.workspace_id
            ),
        )
        return {row.key: StatusInfo(*row) for row in rows}

    return await cached(ctx, "lead_statuses", load)


async def status_by_key(ctx: Ctx, key: str) -> StatusInfo:
    """A status a lead has (its key, category, is_active and position), retired or not."""
    return (await _statuses_by_key(ctx))[key]


async def converted_key(ctx: Ctx) -> str:
    """The status conversion gives a lead: the first `converted` one, live ones first."""
    found = [s for s in (await _statuses_by_key(ctx)).values() if s.category == "converted"]
    return min(found, key=lambda s: (not s.is_active, s.position, s.key)).key


async def status_for_assignment(ctx: Ctx, key: str | None) -> StatusInfo:
    """The status a lead may be given (its key, category and is_active): active, and not
    `converted` (conversion sets that)."""
    key = key or DEFAULT_KEY
    status = (await _statuses_by_key(ctx)).get(key)
    if status is None or not status.is_active:
        raise Unprocessable([{"field": "status", "message": f"no active lead status `{key}`"}])
    if status.category == StatusCategory.converted:
        raise Unprocessable(
            [{"field": "status", "message": "a lead becomes converted through conversion only"}]
        )
    return status


async def create_status(ctx: Ctx, data: LeadStatusCreate) -> LeadStatus:
    """A key is unique: a second one is a 409. At most LEAD_STATUSES_PER_WORKSPACE statuses,
    retired ones included (the list shows them): 409 `lead_status_limit` beyond."""
    await ensure_room(
        ctx,
        table_of(LeadStatus),
        cap=LEAD_STATUSES_PER_WORKSPACE,
        error=TooManyLeadStatuses(
            f"A workspace has at most {LEAD_STATUSES_PER_WORKSPACE} lead statuses, retired "
            "ones included; delete an unused one first"
        ),
    )
    status = LeadStatus(
        workspace_id=ctx.workspace_id,
        key=data.key,
        category=data.category,
        position=data.position,
        label_vi=data.labels.vi,
        label_en=data.labels.en,
    )
    ctx.session.add(status)
    await flush_or_conflict(ctx, LeadStatusKeyTaken(f"`{data.key}` already exists"))
    record_creation(
        ctx, "lead_status", status, ["key", "category", "position", "label_vi", "label_en"]
    )
    await settings_changed(ctx)
    return status


async def update_status(
    ctx: Ctx, status_id: uuid.UUID, data: LeadStatusUpdate, *, if_match: str | None
) -> LeadStatus:
    status = await get_status(ctx, status_id)
    check_if_match(status.version, if_match)
    values = data.model_dump(exclude_unset=True)
    if labels := values.pop("labels", None):
        values["label_vi"], values["label_en"] = labels["vi"], labels["en"]
    apply_changes(ctx, "lead_status", status, values)
    await ctx.session.flush()
    await settings_changed(ctx)
    return status


async def delete_status(ctx: Ctx, status_id: uuid.UUID, *, if_match: str | None) -> None:
    """A status that any lead (deleted ones included) still has cannot go: 409; retire it."""
    status = await get_status(ctx, status_id)
    check_if_match(status.version, if_match)
    if await ctx.session.scalar(
        select(exists().where(Lead.workspace_id == ctx.workspace_id, Lead.status == status.key))
    ):
        raise LeadStatusInUse(f"Leads still have status `{status.key}`: retire it instead")
    converted = [s for s in (await _statuses_by_key(ctx)).values() if s.category == "converted"]
    if status.category == "converted" and len(converted) == 1:
        raise LeadStatusInUse("Conversion needs a `converted` status: this is the last one")
    await ctx.session.delete(status)
    await ctx.session.flush()
    record_change(
        ctx, "lead_status", status.id, "deleted", {"key": {"old": status.key, "new": None}}
    )
    await settings_changed(ctx)
