"""Core statements run straight on the driver: the reads and inserts every request makes.

SQLAlchemy builds the statement and compiles it, once per shape (keyed by its cache key, as
SQLAlchemy does itself); asyncpg runs it in the request's transaction. Skipping SQLAlchemy's
execution context and result layer removes most of its cost from a list page or an insert
(README, "Benchmark"). Rows come back as asyncpg records: read them by key or position.
"""

from typing import Any, TypeAlias

import asyncpg
from sqlalchemy import Executable, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import LRUCache

from app.core.context import Ctx
from app.core.db import driver_connection

# A select of any columns (SQLAlchemy types a select by the tuple of what it returns).
AnySelect: TypeAlias = Select[*tuple[Any, ...]]

# Bounded like SQLAlchemy's own compiled cache: shapes are few (filters given, sort, cursor).
_COMPILED: LRUCache[Any, SQLCompiler] = LRUCache(500)


def _compile(
    statement: Any, dialect: Dialect, params: dict[str, Any] | None
) -> tuple[SQLCompiler, dict[str, Any]]:
    """The compiled statement for this shape, and the bound values of this instance of it."""
    key = statement._generate_cache_key()
    if key is None:  # a statement SQLAlchemy can't cache: compile it every time
        compiled: SQLCompiler = statement.compile(dialect=dialect)  # type: ignore[assignment]
        return compiled, compiled.construct_params(params, _no_postcompile=True)
    found = _COMPILED.get((dialect, key.key))
    if found is None:
        found = dialect.statement_compiler(dialect, statement, cache_key=key)
        _COMPILED[(dialect, key.key)] = found
    values = found.construct_params(
        params, extracted_parameters=key.bindparams, _no_postcompile=True
    )
    return found, values


def to_driver(
    statement: Any, dialect: Dialect, params: dict[str, Any] | None = None
) -> tuple[str, list[Any]]:
    """The SQL text and positional arguments asyncpg takes, as SQLAlchemy would send them:
    expanding IN lists rendered, bind processors (JSON, for one) applied."""
    compiled, values = _compile(statement, dialect, params)
    processors: Any = compiled._bind_processors
    sql, order = compiled.string, compiled.positiontup or []
    if compiled.literal_execute_params or compiled.post_compile_params:
        expanded = compiled._process_parameters_for_postcompile(values)
        sql, order, values = expanded.statement, expanded.positiontup or [], expanded.parameters
        processors = {**processors, **expanded.processors}
    args = [
        processors[name](values[name]) if name in processors else values[name] for name in order
    ]
    return sql, args


async def fetch(ctx: Ctx, statement: Executable) -> list[asyncpg.Record]:
    """Rows of a read-only select, in the request's transaction."""
    driver = await driver_connection(ctx.session)
    sql, args = to_driver(statement, _dialect(ctx))
    return await driver.fetch(sql, *args)  # type: ignore[no-any-return]


async def execute(ctx: Ctx, statement: Executable, params: dict[str, Any]) -> None:
    """Run a statement whose values are bound parameters (a prebuilt INSERT), in the
    request's transaction."""
    driver = await driver_connection(ctx.session)
    sql, args = to_driver(statement, _dialect(ctx), params)
    try:
        await driver.execute(sql, *args)
    except asyncpg.IntegrityConstraintViolationError as error:
        # The error SQLAlchemy would raise, so the one handler answers 409 for both paths.
        raise IntegrityError(sql, args, error) from error


def _dialect(ctx: Ctx) -> Dialect:
    return ctx.session.get_bind().dialect
