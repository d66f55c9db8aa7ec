"""What a session carries from one part of a request (or job) to another: one typed object under
one `session.info` key, reachable as `ctx.state`, instead of string keys each module invents."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

APP_ROLE = "sen_app"  # tenant queries: RLS keyed on sen.workspace_id
AUTH_ROLE = "sen_auth"  # credential look-ups before the workspace is known: read-only, two tables


@dataclass(frozen=True)
class PendingJob:
    """A job asked for in this transaction, sent to the queue once it commits."""

    function: str
    args: tuple[Any, ...]
    job_id: str
    defer_until: datetime | None = None
    # Coalesced: every transaction committing within the same window of this length asks for
    # one job, `job_id` + the window, run when the window has closed (after all their commits).
    window: timedelta | None = None


@dataclass(frozen=True)
class EventCause:
    """An automation acting in this transaction: the events its changes emit carry it, and
    how many automation actions deep the chain is, so no automation re-triggers in a loop."""

    automation_id: uuid.UUID
    depth: int


@dataclass
class TransactionState:
    # The role and workspace each transaction of the session begins with (db.py sends them
    # with its BEGIN). None: a system session, which runs as the connecting role.
    role: str | None = APP_ROLE
    workspace_id: uuid.UUID | None = None
    # A settings version to check in the next BEGIN message (the caller cache's), and whether
    # that check found it stale.
    expected_settings_version: int | None = None
    stale_settings: bool = False
    # This transaction changed the workspace's settings: cached ones are not to be trusted.
    settings_changed: bool = False
    jobs: list[PendingJob] = field(default_factory=list)
    cause: EventCause | None = None  # None: a person or an integration made the change
    # (model, id) of every record read or made through the resource layer: an idempotent
    # POST's stored answer names the records it is about (the identity map holds them weakly).
    records_in_use: set[tuple[type[Any], uuid.UUID]] = field(default_factory=set)
    # (model, id) of the rows `records.lock_many` locked for the whole transaction.
    locked_rows: set[tuple[type[Any], uuid.UUID]] = field(default_factory=set)
    # Rows of other tables a record was inserted with in this transaction (a contact's account
    # links), by (model, id) and then table name: it reads without reading them back.
    made_with: dict[tuple[type[Any], uuid.UUID], dict[str, list[dict[str, Any]]]] = field(
        default_factory=dict
    )


_KEY = "sen"


def state_of(session: AsyncSession | Session) -> TransactionState:
    """The session's state, made on first use (an AsyncSession shares its sync session's info)."""
    state = session.info.get(_KEY)
    if state is None:
        state = session.info[_KEY] = TransactionState()
    assert isinstance(state, TransactionState)
    return state
