"""Core statements run straight on the driver: the reads and writes every request makes.

SQLAlchemy builds the statement and compiles it, once per shape (keyed by its cache key, as
SQLAlchemy does itself); asyncpg runs it in the request's transaction. Skipping SQLAlchemy's
execution context and result layer removes most of its cost from a list page or an insert
(README, "Benchmarks"). Rows come back as asyncpg records: read them by key or position.
Where SQLAlchemy meets asyncpg (and the private attributes that takes) is app/core/driver.py.
"""

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy import Executable, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import Ctx
from app.core.db import SenConnection
from app.core.driver import driver_arguments, driver_connection, driver_template

# A select of any columns (SQLAlchemy types a select by the tuple of what it returns).
AnySelect: TypeAlias = Select[*tuple[Any, ...]]


async def fetch(
    ctx: Ctx, statement: Executable, params: dict[str, Any] | None = None
) -> list[asyncpg.Record]:
    """Rows of a read-only select, in the request's transaction (`params`: the values of a
    prebuilt statement's bound parameters)."""
    driver = await driver_connection(ctx.session)
    sql, args = driver_arguments(statement, _dialect(ctx), params)
    return await driver.fetch(sql, *args)


async def stream(
    ctx: Ctx, statement: Executable, *, batch: int = 1000
) -> AsyncIterator[list[asyncpg.Record]]:
    """Rows of a read-only select in batches of `batch`, through a server-side cursor in the
    session's transaction: a million rows are read in bounded memory (an export)."""
    driver = await driver_connection(ctx.session)
    sql, args = driver_arguments(statement, _dialect(ctx))
    cursor = await driver.cursor(sql, *args)
    while rows := await cursor.fetch(batch):
        yield rows


async def execute(ctx: Ctx, statement: Executable, params: dict[str, Any]) -> list[asyncpg.Record]:
    """Run a statement whose values are bound parameters (a prebuilt INSERT or UPDATE), in the
    request's transaction; the rows it returns, if it has a RETURNING clause."""
    driver = await driver_connection(ctx.session)
    sql, args = driver_arguments(statement, _dialect(ctx), params)
    try:
        return await driver.fetch(sql, *args)
    except asyncpg.IntegrityConstraintViolationError as error:
        # The error SQLAlchemy would raise, so the one handler answers 409 for both paths.
        raise IntegrityError(sql, args, error) from error


async def execute_many(ctx: Ctx, statement: Executable, rows: list[dict[str, Any]]) -> None:
    """Run a prebuilt statement whose values are bound parameters once per row of `rows`, in
    the request's transaction, as one pipeline (asyncpg's `executemany`: the statement is
    prepared once, every row's values go out together, one round trip for them all). Every
    row binds every parameter; a failing row fails them all (an `IntegrityError`, as
    `execute`)."""
    if not rows:
        return
    driver = await driver_connection(ctx.session)
    sql, order, processors = driver_template(statement, _dialect(ctx), rows[0])
    args = [
        [processors[name](row[name]) if name in processors else row[name] for name in order]
        for row in rows
    ]
    try:
        await driver.executemany(sql, args)
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(sql, args[:1], error) from error


async def begin(session: AsyncSession) -> None:
    """Start the session's transaction now, if nothing has (BEGIN carries the workspace
    setting, and the settings-version check when one was asked for)."""
    await driver_connection(session)


async def fetch_fixed_row(session: AsyncSession, query: str, *args: Any) -> asyncpg.Record | None:
    """The first row of a fixed SQL text (asyncpg's `$1` style, no compile step), in the
    session's transaction: for a statement on the hot path with nothing to build (the
    caller's row, when this process has no current copy of it)."""
    driver = await driver_connection(session)
    return await driver.fetchrow(query, *args)


async def set_local(session: AsyncSession, settings: Sequence[str]) -> None:
    """`SET LOCAL` each of `settings` (literal "name = value": SET takes no parameters) for
    the rest of the session's transaction, in one round trip; on a Citus coordinator one per
    setting, since it forwards a SET LOCAL to the shards only as a message of its own."""
    driver = await driver_connection(session)
    statements = [f"SET LOCAL {setting}" for setting in settings]
    if isinstance(driver, SenConnection) and driver.packed_begin:
        await driver.execute("; ".join(statements))
        return
    for statement in statements:
        await driver.execute(statement)


def _dialect(ctx: Ctx) -> Dialect:
    return ctx.session.get_bind().dialect
