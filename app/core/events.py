"""Domain events: the outbox of DESIGN §7. Every change writes its event row in the same
transaction as the change (`emit`; history entries emit theirs through app/core/history.py), so
no event exists for a change that rolled back and none is missing for one that committed.

After commit a dispatcher job (`dispatch_events`, nudged by every transaction that emitted, with
a cron sweep as the net) numbers the workspace's new events in commit order (`position`, the
cursor pollers of `GET /events` follow) and hands them, in that order, to the consumers the
domains registered (`on_events`: automations, webhooks). See docs/decisions/0010-events.md."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    SmallInteger,
    String,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core import sql
from app.core.context import Ctx
from app.core.ids import id_floor, new_id
from app.core.jobs import enqueue_after_commit
from app.core.models import Base, TenantMixin, table_of, utcnow

DISPATCH_JOB = "dispatch_events"


class Event(TenantMixin, Base):
    """Something that happened to a record: `lead.created`, `deal.stage_changed`…"""

    __tablename__ = "events"
    __table_args__ = (
        # Pollers and the dispatcher's numbering: commit order within the workspace.
        Index("ix_events_position", "workspace_id", "position", unique=True),
        # The dispatcher's queue: events not yet numbered, oldest first.
        Index(
            "ix_events_undispatched",
            "workspace_id",
            "id",
            postgresql_where=text("position IS NULL"),
        ),
        # `GET /events`' filters, each in commit order.
        Index("ix_events_record", "workspace_id", "record_id", "position"),
        Index("ix_events_type", "workspace_id", "type", "position"),
        Index("ix_events_resource", "workspace_id", "resource", "position"),
    )

    type: Mapped[str] = mapped_column(String(60))
    resource: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[uuid.UUID]
    actor_id: Mapped[uuid.UUID | None]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    changes: Mapped[dict[str, Any]]
    # How many automation actions led here (0: a person or an integration did it); an
    # automation's own changes carry the automation, so it never triggers itself in a loop.
    depth: Mapped[int] = mapped_column(SmallInteger, default=0)
    automation_id: Mapped[uuid.UUID | None]
    # Commit order in the workspace, set by the dispatcher; None until then.
    position: Mapped[int | None] = mapped_column(BigInteger)


def event_values(
    ctx: Ctx, event_type: str, resource: str, record_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """The event row's columns for a change this transaction makes, and the dispatcher nudged
    once it commits: for a caller that INSERTs the row itself (the resource layer's fast path
    writes it in the record's own statement)."""
    _nudge_dispatcher(ctx)
    cause = ctx.state.cause
    return {
        "workspace_id": ctx.workspace_id,
        "id": new_id(),
        "type": event_type,
        "resource": resource,
        "record_id": record_id,
        "actor_id": ctx.actor.user_id,
        "at": utcnow(),
        "changes": changes,
        "depth": cause.depth if cause else 0,
        "automation_id": cause.automation_id if cause else None,
        "position": None,
    }


def emit(
    ctx: Ctx,
    event_type: str,
    resource: str,
    record_id: uuid.UUID,
    changes: dict[str, Any] | None = None,
) -> None:
    """Record that `event_type` happened to the record, in this transaction: it is dispatched
    once the transaction commits, and never if it rolls back. `changes` are field -> old/new
    (JSON values) or what the event is about."""
    values = event_values(ctx, event_type, resource, record_id, changes or {})
    ctx.session.add(Event(**values))


_EVENTS = table_of(Event)
_INSERT_EVENT = insert(_EVENTS).values({c.name: bindparam(c.name, type_=c.type) for c in _EVENTS.c})


async def emit_many(
    ctx: Ctx, event_type: str, resource: str, changes_by_record: Sequence[tuple[uuid.UUID, Any]]
) -> None:
    """`emit` for many records at once (an import's batch: `record_id, changes` each), in one
    round trip."""
    rows = [
        event_values(ctx, event_type, resource, record_id, changes)
        for record_id, changes in changes_by_record
    ]
    await sql.execute_many(ctx, _INSERT_EVENT, rows)


# The transactions of a workspace that commit within this long share one dispatcher job, run
# when it has passed: a burst of commits is one look, not one each (at most 10 a second).
DISPATCH_WINDOW = timedelta(milliseconds=100)


def _nudge_dispatcher(ctx: Ctx) -> None:
    """Ask for the workspace's dispatcher once this transaction commits (the list of jobs to
    send is emptied at each commit and rollback)."""
    if not any(job.function == DISPATCH_JOB for job in ctx.state.jobs):
        workspace = str(ctx.workspace_id)
        enqueue_after_commit(
            ctx, DISPATCH_JOB, workspace, job_id=f"events:{workspace}", window=DISPATCH_WINDOW
        )


# The dispatcher ------------------------------------------------------------------------------

Consumer = Callable[[Ctx, Sequence[Event]], Awaitable[None]]
_CONSUMERS: dict[str, Consumer] = {}


def on_events(name: str, consumer: Consumer) -> None:
    """`consumer` is handed every new event of a workspace, in commit order, inside the
    dispatcher's transaction (what it writes commits with the numbering, or neither does). A
    domain registers it at import; the core never imports a domain."""
    _CONSUMERS[name] = consumer


DISPATCH_BATCH = 500


async def take_dispatch_turn(ctx: Ctx) -> bool:
    """The workspace's dispatcher lock for this transaction; False if another holds it. One
    dispatcher at a time per workspace is what makes positions follow commit order."""
    key = f"sen.events:{ctx.workspace_id}"
    taken = await ctx.session.scalar(select(func.pg_try_advisory_xact_lock(func.hashtext(key))))
    return bool(taken)


async def dispatch_batch(ctx: Ctx, *, limit: int = DISPATCH_BATCH) -> int:
    """Number up to `limit` committed events not yet dispatched, in the order they were made,
    and hand them to the consumers; returns how many. The caller holds `take_dispatch_turn`."""
    pending = list(
        await ctx.session.scalars(
            select(Event)
            .where(Event.workspace_id == ctx.workspace_id, Event.position.is_(None))
            .order_by(Event.id)
            .limit(limit)
        )
    )
    if not pending:
        return 0
    last = await ctx.session.scalar(
        select(func.max(Event.position)).where(Event.workspace_id == ctx.workspace_id)
    )
    for offset, event in enumerate(pending, start=(last or 0) + 1):
        event.position = offset
    await ctx.session.flush()
    for consumer in _CONSUMERS.values():
        await consumer(ctx, pending)
    return len(pending)


async def undispatched_since(ctx: Ctx, older_than: datetime) -> bool:
    """Whether an event made before `older_than` still waits for the dispatcher (the sweep's
    test: its nudge was lost with Redis, or no worker ran)."""
    found = await ctx.session.scalar(
        select(Event.id)
        .where(
            Event.workspace_id == ctx.workspace_id,
            Event.position.is_(None),
            Event.id < id_floor(older_than),
        )
        .limit(1)
    )
    return found is not None


def dispatch_again_soon(ctx: Ctx, *, after: timedelta) -> None:
    """Another dispatcher held the turn: try again shortly (it may have read before the events
    that nudged this one committed)."""
    workspace = str(ctx.workspace_id)
    enqueue_after_commit(
        ctx,
        DISPATCH_JOB,
        workspace,
        job_id=f"events:{workspace}:{new_id()}",
        defer_until=utcnow() + after,
    )


async def forget_old_events(ctx: Ctx, *, older_than: datetime, limit: int = 10_000) -> int:
    """Delete up to `limit` dispatched events made before `older_than` (SEN_EVENTS_KEEP_DAYS)."""
    doomed = (
        select(Event.id)
        .where(
            Event.workspace_id == ctx.workspace_id,
            Event.id < id_floor(older_than),
            Event.position.is_not(None),
        )
        .order_by(Event.id)
        .limit(limit)
    )
    result = await ctx.session.execute(
        delete(Event).where(Event.workspace_id == ctx.workspace_id, Event.id.in_(doomed))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
