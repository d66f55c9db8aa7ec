"""What a lead conversion costs the database: its statements, counted as the driver sends them
(README, "Conversions and timelines"). A new statement here is a round trip on every
conversion: find it a place in one that is already sent, or say why it must be its own."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from asyncpg.prepared_stmt import PreparedStatement
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.contacts.service import CONTACTS
from app.core import records
from app.core.context import Actor, Ctx, Role
from app.core.db import enter_workspace
from app.core.tenancy import Workspace
from app.leads.convert import convert_lead
from app.leads.schemas import ConvertLead
from tests.conftest import World
from tests.factories import make_lead


@contextmanager
def statements_sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement asyncpg sends while the block runs: SQLAlchemy's (prepared statements)
    and those of app/core/sql.py (the connection's own methods)."""
    sent: list[str] = []
    execute, run = asyncpg.Connection.execute, asyncpg.Connection._execute
    run_many = asyncpg.Connection._executemany
    prepared_fetch = PreparedStatement.fetch

    async def counted_execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        if not args:  # with args it goes through _execute, counted there
            sent.append(query)
        return await execute(self, query, *args, **kw)

    async def counted_run(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        sent.append(query)
        return await run(self, query, *args, **kw)

    async def counted_run_many(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        sent.append(query)
        return await run_many(self, query, *args, **kw)

    async def counted_fetch(self: Any, *args: Any, **kw: Any) -> Any:
        sent.append(self.get_query())
        return await prepared_fetch(self, *args, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(asyncpg.Connection, "execute", counted_execute)
        patch.setattr(asyncpg.Connection, "_execute", counted_run)
        patch.setattr(asyncpg.Connection, "_executemany", counted_run_many)
        patch.setattr(PreparedStatement, "fetch", counted_fetch)
        yield sent


async def test_a_conversion_with_a_deal_is_six_statements_between_begin_and_commit(
    client: httpx.AsyncClient,
    world: World,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = [
        await make_lead(client, world.owner.headers, full_name=name, company_name=company)
        for name, company in (("Lê Thị Hoa", "Công ty CP Hoa Sen"), ("Trần Văn Bình", "Bình An"))
    ]
    await enter_workspace(session, world.owner.workspace_id)
    version = await session.scalar(
        select(Workspace.settings_version).where(Workspace.id == world.owner.workspace_id)
    )
    ctx = Ctx(
        session=session,
        actor=Actor(user_id=world.owner.user_id, role=Role.owner),
        workspace_id=world.owner.workspace_id,
        settings_version=version,
    )
    body = ConvertLead.model_validate({"deal": {"amount": "250000000"}})
    await convert_lead(ctx, uuid.UUID(made[0]["id"]), body)  # warm: settings, statements

    with statements_sent(monkeypatch) as sent:
        done = await convert_lead(ctx, uuid.UUID(made[1]["id"]), body)
        contact = await records.read(ctx, CONTACTS, done.contact)

    # The lead locked; the account, the contact (with its link), each with its history row;
    # the pipeline with its stages, shared-locked; the deal (with its history and first stage
    # move); the lead's update with its history row. The contact reads with its link as made.
    assert [statement.split()[0] for statement in sent] == [
        "SELECT", "WITH", "WITH", "SELECT", "WITH", "WITH",
    ]  # fmt: skip
    assert "FOR UPDATE" in sent[0]
    assert "FOR SHARE OF pipelines" in sent[3]
    assert done.account is not None
    assert [link.account_id for link in contact.accounts] == [done.account.id]
