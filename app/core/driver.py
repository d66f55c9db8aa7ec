"""Where SQLAlchemy meets asyncpg: every private attribute of either library Sen relies on.

Sen compiles a statement with SQLAlchemy and sends it straight to asyncpg (app/core/sql.py), in
the transaction SQLAlchemy's session owns, which it starts itself when nothing has run yet. Both
need a few attributes the libraries do not publish. They are all in this module, each behind a
function, and tests/core/test_driver_internals.py touches every one: after an upgrade renames
one, that test fails first with `LibraryChanged` naming it, instead of requests failing later.

One override is not here: `SenConnection._get_statement` (app/core/db.py), asyncpg's funnel for
every parameterised statement, where the suite reads what the app sends. It is a method of
db.py's connection class, which this module builds on; if asyncpg renames it,
tests/core/test_tenant_statements.py (the driver shows the reader a request's statements) fails.
"""

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import LRUCache

from app.core.db import STALE_SETTINGS_SQLSTATE, SenConnection, enter_sql
from app.core.transaction import APP_ROLE, state_of


class LibraryChanged(RuntimeError):
    """A private attribute Sen relies on is gone: check the SQLAlchemy / asyncpg upgrade."""


def _private(owner: object, name: str) -> Any:
    try:
        return getattr(owner, name)
    except AttributeError as error:
        kind = f"{type(owner).__module__}.{type(owner).__qualname__}"
        raise LibraryChanged(f"{kind} has no {name} (app/core/driver.py relies on it)") from error


# --- SQLAlchemy: compiling once per shape --------------------------------------------------

# Bounded like SQLAlchemy's own compiled cache: shapes are few (filters given, sort, cursor).
_COMPILED: LRUCache[Any, SQLCompiler] = LRUCache(500)


def compile_once(
    statement: Any, dialect: Dialect, params: Mapping[str, Any] | None
) -> tuple[SQLCompiler, dict[str, Any]]:
    """The compiled statement for this shape (keyed by its cache key, as SQLAlchemy does
    itself), and the bound values of this instance of it."""
    key = _private(statement, "_generate_cache_key")()
    if key is None:  # a statement SQLAlchemy can't cache: compile it every time
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        return compiled, _bound_values(compiled, params, None)
    found = _COMPILED.get((dialect, key.key))
    if found is None:
        found = dialect.statement_compiler(dialect, statement, cache_key=key)
        _COMPILED[(dialect, key.key)] = found
    return found, _bound_values(found, params, key.bindparams)


def _bound_values(
    compiled: SQLCompiler, params: Mapping[str, Any] | None, extracted: Any
) -> dict[str, Any]:
    # `_no_postcompile`: leave expanding IN lists for `driver_arguments`, which renders them.
    try:
        values = compiled.construct_params(
            params, extracted_parameters=extracted, _no_postcompile=True
        )
    except TypeError as error:
        raise LibraryChanged(f"construct_params refused _no_postcompile: {error}") from error
    return dict(values)


def driver_arguments(
    statement: Any, dialect: Dialect, params: Mapping[str, Any] | None = None
) -> tuple[str, list[Any]]:
    """The SQL text and positional arguments asyncpg takes, as SQLAlchemy would send them:
    expanding IN lists rendered, bind processors (JSON, for one) applied."""
    compiled, values = compile_once(statement, dialect, params)
    processors: dict[str, Any] = dict(_private(compiled, "_bind_processors"))
    sql, order = compiled.string, list(compiled.positiontup or [])
    if compiled.literal_execute_params or compiled.post_compile_params:
        expanded = _private(compiled, "_process_parameters_for_postcompile")(values)
        sql, order = expanded.statement, list(expanded.positiontup or [])
        values = dict(expanded.parameters)
        processors.update(expanded.processors)
    args = [
        processors[name](values[name]) if name in processors else values[name] for name in order
    ]
    return sql, args


def driver_template(
    statement: Any, dialect: Dialect, params: Mapping[str, Any]
) -> tuple[str, list[str], dict[str, Any]]:
    """For a statement run many times with different values (`sql.execute_many`): its SQL
    text, the names of its bound parameters in asyncpg's positional order, and the bind
    processors by name. Only for statements whose parameters are all plain bound values (no
    expanding IN list, nothing rendered at execution)."""
    compiled, _ = compile_once(statement, dialect, params)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("a statement run many times must bind plain values only")
    processors: dict[str, Any] = dict(_private(compiled, "_bind_processors"))
    return compiled.string, list(compiled.positiontup or []), processors


# --- The session's asyncpg connection, inside its transaction ------------------------------


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside its transaction (BEGIN and the workspace
    setting sent now if nothing has run yet), for statements sent straight to the driver."""
    connection = await session.connection()
    fairy = connection.sync_connection.connection  # type: ignore[union-attr]
    adapted, driver = fairy.dbapi_connection, fairy.driver_connection
    assert isinstance(driver, SenConnection), "sessions run on make_engine's engines"
    # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement: a
    # statement sent past it must start the transaction the same way, or it would run outside
    # it, as the connecting role, with no workspace wall.
    if _private(adapted, "_transaction") is None:
        async with _execute_mutex(adapted):
            if _private(adapted, "_transaction") is None:
                await _begin(session, adapted, driver)
    return driver


def _execute_mutex(adapted: Any) -> asyncio.Lock:
    # The adapter's own lock around a statement: BEGIN must not interleave with one.
    return cast(asyncio.Lock, _private(adapted, "_execute_mutex"))


async def _begin(session: AsyncSession, adapted: Any, driver: SenConnection) -> None:
    """BEGIN (with the workspace setting, and the settings-version check if one was asked
    for). A failed check leaves that transaction aborted: roll it back, begin again without the
    check, and say so in the session's state (`stale_settings`)."""
    start = _private(adapted, "_start_transaction")
    try:
        await start()
    except Exception as error:
        if getattr(error, "sqlstate", None) != STALE_SETTINGS_SQLSTATE:
            raise
        await driver.execute("ROLLBACK")
        forget_transaction(driver)
        state = state_of(session)
        state.stale_settings = True
        driver.sen_enter = enter_sql(state.role or APP_ROLE, state.workspace_id)
        await start()


def forget_transaction(driver: asyncpg.Connection) -> None:
    """Tell asyncpg no transaction is open after a ROLLBACK it did not send itself; it would
    otherwise take the next BEGIN for a SAVEPOINT."""
    _private(driver, "_top_xact")
    driver._top_xact = None  # type: ignore[attr-defined]
    if isinstance(driver, SenConnection):
        driver.sen_begin_failed = False  # rolled back: the connection is clean again
