"""Statements sent straight to the driver (app/core/sql.py) behave as through SQLAlchemy."""

from dataclasses import replace

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.core import sql
from app.core.context import Actor, Ctx, Role
from app.core.db import enter_workspace
from app.core.history import RecordChange
from app.core.ids import new_id
from app.core.records import insert_record, update_record
from app.leads.models import Lead
from app.leads.service import LEADS
from tests.conftest import World


async def _ctx(session: AsyncSession, world: World) -> Ctx:
    await enter_workspace(session, world.owner.workspace_id)
    return Ctx(
        session=session,
        actor=Actor(user_id=world.owner.user_id, role=Role.owner),
        workspace_id=world.owner.workspace_id,
    )


def _lead(world: World) -> dict[str, object]:
    return {
        "workspace_id": world.owner.workspace_id,
        "id": new_id(),
        "full_name": "Phạm Thu Trang",
        "status": "new",
        "owner_id": world.owner.user_id,
        "search_text": "pham thu trang",
        "custom_fields": {"hạng": "vàng"},
        "tags": ["vip"],
    }


async def test_an_insert_and_its_history_land_with_json_and_arrays_intact(
    session: AsyncSession, world: World
) -> None:
    ctx = await _ctx(session, world)
    values = _lead(world)

    await insert_record(ctx, replace(LEADS, history=("full_name", "tags")), values)

    # Read back from the database, not the identity map the insert put it in.
    stored = await session.get(
        Lead, (world.owner.workspace_id, values["id"]), populate_existing=True
    )
    assert stored is not None
    assert stored.custom_fields == {"hạng": "vàng"}
    assert stored.tags == ["vip"]
    history = await sql.fetch(
        ctx,
        select(RecordChange.action, RecordChange.changes).where(
            RecordChange.record_id == values["id"]
        ),
    )
    assert [tuple(row) for row in history] == [
        ("created", {"full_name": {"old": None, "new": "Phạm Thu Trang"},
                     "tags": {"old": None, "new": ["vip"]}}),
    ]  # fmt: skip


async def test_a_unique_violation_is_the_integrity_error_the_409_handler_knows(
    session: AsyncSession, world: World
) -> None:
    ctx = await _ctx(session, world)
    values = _lead(world)
    await insert_record(ctx, LEADS, values)

    with pytest.raises(IntegrityError):
        await insert_record(ctx, LEADS, dict(values))


async def test_an_update_and_its_history_land_in_one_statement_and_move_the_version(
    session: AsyncSession, world: World
) -> None:
    ctx = await _ctx(session, world)
    lead = await insert_record(ctx, LEADS, _lead(world))

    changes = await update_record(
        ctx, LEADS, lead, {"full_name": "Phạm Thu Hà", "tags": ["vip"]}, action="converted"
    )

    assert changes == {"full_name": {"old": "Phạm Thu Trang", "new": "Phạm Thu Hà"}}
    assert (lead.version, len(session.dirty), len(session.new)) == (2, 0, 0)
    stored = await session.get(Lead, (world.owner.workspace_id, lead.id), populate_existing=True)
    assert stored is not None
    assert (stored.full_name, stored.version) == ("Phạm Thu Hà", 2)
    history = await sql.fetch(
        ctx,
        select(RecordChange.action, RecordChange.changes)
        .where(RecordChange.record_id == lead.id)
        .order_by(RecordChange.at, RecordChange.id),
    )
    assert [tuple(row) for row in history][-1] == ("converted", changes)


async def test_an_update_of_a_version_changed_meanwhile_is_stale(
    session: AsyncSession, world: World
) -> None:
    ctx = await _ctx(session, world)
    lead = await insert_record(ctx, LEADS, _lead(world))
    await session.execute(  # another writer, unseen by the object this transaction holds
        update(Lead).where(Lead.id == lead.id).values(version=Lead.version + 1),
        execution_options={"synchronize_session": False},
    )

    with pytest.raises(StaleDataError):
        await update_record(ctx, LEADS, lead, {"full_name": "Phạm Thu Hà"})


async def test_settings_set_local_hold_for_the_transaction_only(
    session: AsyncSession, world: World
) -> None:
    ctx = await _ctx(session, world)

    await sql.set_local(session, ["pg_trgm.similarity_threshold = 0.55", "jit = off"])

    shown = await sql.fetch(
        ctx,
        select(func.current_setting("pg_trgm.similarity_threshold"), func.current_setting("jit")),
    )
    assert tuple(shown[0]) == ("0.55", "off")
    await session.rollback()
    again = await sql.fetch(ctx, select(func.current_setting("jit")))
    assert again[0][0] == "on"  # PostgreSQL's default, back with the next transaction
