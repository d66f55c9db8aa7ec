"""Real PostgreSQL and Redis for every test: embedded by default, the machine's servers when
DATABASE_URL / REDIS_URL are set. One database per xdist worker, migrated once; each test runs
in a transaction rolled back at the end (the app's commits only release savepoints; the harness,
not the app, makes up for the BEGIN a savepoint session never sends). On a Citus cluster
(SEN_TEST_CITUS_WORKERS) each test commits for real and is cleaned up after: tests/citus_harness.py
says why."""

import os

# The suite signs up and logs in hundreds of times from one address: the per-IP limit is off
# unless a test turns it on (tests/auth/test_limits.py).
os.environ.setdefault("SEN_AUTH_REQUESTS_PER_IP", "0")
# Likewise for posts to one form from one address (tests/intake/test_form_posts.py turns it on).
os.environ.setdefault("SEN_INTAKE_POSTS_PER_MINUTE", "0")
os.environ.setdefault("SEN_INTAKE_UNKNOWN_KEYS_PER_MINUTE", "0")

import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI, Request
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only

from app.auth.service import issue_token
from app.core import citus, embedded
from app.core.context import SYSTEM, Actor, Ctx, Role
from app.core.db import (
    SenConnection,
    enter_sql,
    enter_workspace,
    libpq_url,
    make_engine,
    make_sessionmaker,
    with_database,
)
from app.core.migrate import upgrade
from app.core.settings import Settings, get_settings
from app.core.transaction import APP_ROLE, TransactionState, state_of
from app.main import create_app
from app.users import service as users_service
from app.users.models import User
from app.users.schemas import TeamCreate, UserCreate
from app.workspaces.service import create_workspace
from tests import citus_harness, problem_codes, tenant_statements
from tests.problem_codes import recorded
from tests.servers import own_postgres, redis_server  # noqa: F401  (fixtures for every module)
from tests.worker_harness import empty_queue  # noqa: F401  (a fixture for every module)

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = Path(os.environ.get("SEN_DATA_DIR", ROOT / ".sen")) / "test"
PASSWORD = "mật-khẩu-thử-123"


def pytest_configure(config: pytest.Config) -> None:
    # Every statement the app sends in a workspace's transaction is read for its workspace
    # predicate (tests/tenant_statements.py), whichever test sends it.
    SenConnection.observer = tenant_statements.note


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Each problem code the suite saw must be in the spec (tests/problem_codes.py), and each
    statement the app sent must name its workspace (tests/tenant_statements.py): a worker hands
    its notes to the controller, which checks them all."""
    config = session.config
    if hasattr(config, "workerinput"):
        config.workeroutput["problem_codes"] = problem_codes.as_lists(problem_codes.SEEN)  # type: ignore[attr-defined]
        config.workeroutput["tenant_statements"] = tenant_statements.as_lists(  # type: ignore[attr-defined]
            tenant_statements.SEEN
        )
        return
    _UNDOCUMENTED[:] = problem_codes.undocumented(problem_codes.SEEN)
    failed = _UNDOCUMENTED or tenant_statements.SEEN
    if failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """An xdist worker finished: keep the problem codes and the statements it saw."""
    output = getattr(node, "workeroutput", {})
    noted = output.get("problem_codes", [])
    problem_codes.SEEN.update((str(m), str(p), int(s), str(c)) for m, p, s, c in noted)
    sent = output.get("tenant_statements", [])
    tenant_statements.SEEN.update((str(p), str(q), str(w)) for p, q, w in sent)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _UNDOCUMENTED:
        terminalreporter.section("problem codes answered but not in openapi/openapi.json", red=True)
        terminalreporter.line("Declare them on the route (`responses=problems(...)`), then run")
        terminalreporter.line("`sen openapi`:")
        for line in _UNDOCUMENTED:
            terminalreporter.line(f"  {line}")
    if tenant_statements.SEEN:
        terminalreporter.section("statements that don't name their workspace", red=True)
        terminalreporter.line("On Citus each would run on every shard (DESIGN §4):")
        for problem, sql, sender in sorted(tenant_statements.SEEN, key=lambda s: s[2]):
            terminalreporter.line(f"  {sender}: {problem}")
            terminalreporter.line(f"      {sql}")


_UNDOCUMENTED: list[str] = []


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


@pytest.fixture(scope="session")
def server_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded.ensure_postgres(TEST_DATA_DIR)


@pytest_asyncio.fixture(scope="session")
async def database_url(server_url: str) -> str:
    name = f"{os.environ.get('SEN_TEST_DB_PREFIX', 'sen_test')}_{_worker()}"
    if CITUS_WORKERS:
        # One at a time: roles are the cluster's, and two migrations granting to them at once
        # fail with "tuple concurrently updated".
        admin = await asyncpg.connect(libpq_url(with_database(server_url, "postgres")))
        try:
            await admin.execute("SELECT pg_advisory_lock(hashtext('sen.test-databases'))")
            url = await citus.create_database(server_url, name, CITUS_WORKERS)
            await upgrade(url)
            await citus.distribute(url)
        finally:
            await admin.close()  # and the lock with it
        return url
    admin = await asyncpg.connect(libpq_url(with_database(server_url, "postgres")))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(server_url, name)
    await upgrade(url)
    return url


# The suite on a Citus cluster (docs/deploy-citus.md): DATABASE_URL names the coordinator, and
# this its workers ("host:port,host:port").
CITUS_WORKERS = [w for w in os.environ.get("SEN_TEST_CITUS_WORKERS", "").split(",") if w]


@pytest.fixture(scope="session")
def redis_url() -> str:
    database = int(_worker().removeprefix("gw") or 0) + 1
    base = os.environ.get("REDIS_URL")
    if base is None:
        return f"{embedded.ensure_redis(TEST_DATA_DIR)}?db={database}"
    return base.rsplit("/", 1)[0] + f"/{database}" if base.startswith("redis") else base


@contextmanager
def settings_changed(**values: object) -> Iterator[None]:
    """This process's settings with `values` for the block (a test turning a limit on, or the
    sweep's wait off); the app reads them per request, so its next request sees them."""
    settings = get_settings()
    before = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(settings, name, value)


def without_worker() -> Settings:
    """The suite's apps run with no worker beside them: their /readyz leaves the worker's
    heartbeat out (tests that need a worker start one and check it)."""
    return get_settings().model_copy(update={"readyz_checks_worker": False})


@pytest_asyncio.fixture(scope="session")
async def app(database_url: str, redis_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(without_worker(), db_url=database_url, queue_url=redis_url)
    async with application.router.lifespan_context(application):
        await application.state.redis.flushdb()  # counts a previous run left (rate limits)
        yield application


@dataclass
class Member:
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    role: Role
    email: str
    token: str
    team_id: uuid.UUID | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    """Two workspaces, committed once per test session. A has a member of every role in two
    teams; B is the stranger whose records A must never see."""

    owner: Member
    admin: Member
    manager: Member  # manages team "north"
    sales: Member  # team "north"
    teammate: Member  # team "north"
    outsider: Member  # sales in team "south"
    other_owner: Member  # workspace B


async def as_role(
    session: AsyncSession, role: str, workspace_id: object = None, **settings: str
) -> None:
    """The rest of the test's transaction as `role` in `workspace_id`, set as the app's BEGIN
    sets them (`SET LOCAL`, which Citus forwards to the shards), with `settings` (SET LOCAL)."""
    for statement in enter_sql(role, workspace_id):
        await session.execute(text(statement))
    for name, value in settings.items():
        await session.execute(text(f"SET LOCAL {name} = '{value}'"))


async def seed_as_owner(
    session: AsyncSession, statements: list[str], params: dict[str, object], analyze: list[str]
) -> None:
    """Many rows at once for a plan test, written as the tables' owner (row-level security
    aside: Citus refuses `INSERT … SELECT` under it), the tables ANALYZE'd and committed: the
    test's next transaction plans over them as the app role."""
    await session.execute(text("RESET ROLE"))
    for statement in statements:
        await session.execute(text(statement), params)
    for table in analyze:
        await session.execute(text(f"ANALYZE {table}"))
    await session.commit()


async def acting_as(session: AsyncSession, member: Member) -> Ctx:
    """A service context for `member` on the test's session, inside their workspace: for
    setting up many records quickly through the services instead of the API."""
    await enter_workspace(session, member.workspace_id)
    actor = Actor(user_id=member.user_id, role=member.role, team_id=member.team_id)
    return Ctx(session=session, actor=actor, workspace_id=member.workspace_id)


async def _member(ctx: Ctx, email: str, role: Role, team_id: uuid.UUID | None) -> Member:
    user = await users_service.create_user(
        ctx,
        UserCreate(email=email, full_name=email.split("@")[0], password=PASSWORD, role=role,
                   team_id=team_id),
    )  # fmt: skip
    return Member(user.id, ctx.workspace_id, role, email, issue_token(user), team_id)


@pytest_asyncio.fixture(scope="session")
async def world(database_url: str) -> World:
    engine = make_engine(database_url, poolclass=NullPool)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        ws_a, owner = await create_workspace(
            session, name="Minh Phát", owner_email="owner@a.vn", owner_password=PASSWORD,
            owner_name="Chủ A",
        )  # fmt: skip
        ctx = Ctx(session=session, actor=SYSTEM, workspace_id=ws_a.id)
        admin = await _member(ctx, "admin@a.vn", Role.admin, None)
        manager = await _member(ctx, "manager@a.vn", Role.manager, None)
        north = await users_service.create_team(
            ctx, TeamCreate(name="Bắc", manager_id=manager.user_id)
        )
        south = await users_service.create_team(ctx, TeamCreate(name="Nam"))
        sales = await _member(ctx, "sales@a.vn", Role.sales, north.id)
        teammate = await _member(ctx, "teammate@a.vn", Role.sales, north.id)
        outsider = await _member(ctx, "outsider@a.vn", Role.sales, south.id)
        await session.commit()
    async with maker() as session:
        _, other = await create_workspace(
            session, name="Đối thủ", owner_email="owner@b.vn", owner_password=PASSWORD,
            owner_name="Chủ B",
        )  # fmt: skip
        await session.commit()
    await engine.dispose()

    def as_member(user: User, role: Role) -> Member:
        return Member(user.id, user.workspace_id, role, user.email, issue_token(user))

    return World(
        owner=as_member(owner, Role.owner),
        admin=admin,
        manager=manager,
        sales=sales,
        teammate=teammate,
        outsider=outsider,
        other_owner=as_member(other, Role.owner),
    )


_STALE_SETTINGS = "SN001"  # sen_check_settings_version's refusal (migration 0008)


async def _enter_as_begin_would(
    driver: asyncpg.Connection, statements: list[str], state: TransactionState
) -> None:
    """Run the setting the app queued for its BEGIN, and do what the app does when the
    settings-version check in it fails: carry on in the workspace, the check marked stale.
    Only the check runs in a savepoint: Citus forgets the SETs of a released one."""
    settings = enter_sql(state.role or APP_ROLE, state.workspace_id)
    for statement in settings:
        await driver.execute(statement)
    for check in statements[len(settings) :]:
        await driver.execute("SAVEPOINT sen_check")
        try:
            await driver.execute(check)
        except asyncpg.PostgresError as error:
            if error.sqlstate != _STALE_SETTINGS:
                raise
            await driver.execute("ROLLBACK TO SAVEPOINT sen_check")
            state.stale_settings = True
        await driver.execute("RELEASE SAVEPOINT sen_check")


def _begin_in_savepoint(session: Session, tx: SessionTransaction, connection: Connection) -> None:
    """The app queues each transaction's role, workspace and settings check to ride on its
    BEGIN (app/core/db.py). A test session's transactions are savepoints in the test's own, and
    send no BEGIN: send what was queued here, after the app's listener has queued it."""
    if tx.nested:
        return
    driver = connection.connection.driver_connection
    assert isinstance(driver, SenConnection)
    statements, driver.sen_enter = driver.sen_enter, None
    if statements is not None:
        await_only(_enter_as_begin_would(driver, statements, state_of(session)))


@pytest_asyncio.fixture(scope="session")
async def world_rows(database_url: str, world: World) -> citus_harness.WorldRows | None:
    """On a Citus cluster: the world's rows as made, put back after each test."""
    if not CITUS_WORKERS:
        return None
    ids = [world.owner.workspace_id, world.other_owner.workspace_id]
    return await citus_harness.take_world(database_url, ids)


@pytest_asyncio.fixture
async def session(
    database_url: str, world: World, world_rows: citus_harness.WorldRows | None
) -> AsyncIterator[AsyncSession]:
    if world_rows is not None:
        before = await citus_harness.workspaces_now(database_url)
        engine = make_engine(database_url, poolclass=NullPool)
        test_session = make_sessionmaker(engine)()
        try:
            yield test_session
        finally:
            await test_session.close()
            await engine.dispose()
            await citus_harness.put_back(database_url, world_rows, before)
        return
    engine = make_engine(database_url, poolclass=NullPool)
    async with engine.connect() as conn:
        outer = await conn.begin()
        test_session = AsyncSession(
            bind=conn,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        )
        # After the app's own listener (class-level listeners run first).
        event.listen(test_session.sync_session, "after_begin", _begin_in_savepoint)
        yield test_session
        await test_session.close()
        await outer.rollback()
    await engine.dispose()


@pytest_asyncio.fixture
async def client(app: FastAPI, session: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the test's session; each request starts clean, as a real one would."""

    async def test_session(request: Request) -> AsyncSession:
        if session.in_transaction():
            await session.commit()  # the test's own writes: released into the outer transaction
        session.expunge_all()
        session.info.clear()
        return session

    default = app.state.open_session
    app.state.open_session = test_session
    transport = httpx.ASGITransport(app=recorded(app), raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sen.test") as http:
            yield http
    finally:
        app.state.open_session = default


@pytest_asyncio.fixture
async def committing_client(app: FastAPI, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app on its own pool: every request commits for real (concurrency tests). Rows made
    in the test's workspaces are removed afterwards."""
    transport = httpx.ASGITransport(app=recorded(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sen.test") as http:
        yield http
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        await conn.execute(
            "DELETE FROM workspaces WHERE name LIKE 'committing-%'"
        )  # cascades to every tenant table
    finally:
        await conn.close()


async def sign_up(http: httpx.AsyncClient, name: str, email: str | None = None) -> dict[str, Any]:
    """A fresh workspace through the public endpoint: {token, workspace_id, user_id, headers};
    its owner's email is made up unless given (one email may own several workspaces)."""
    email = email or f"{uuid.uuid4().hex[:10]}@{name.lower().replace(' ', '-')}.vn"
    response = await http.post(
        "/api/v1/auth/signup",
        json={"workspace_name": name, "email": email, "password": PASSWORD, "full_name": "Ánh"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {
        "email": email,
        "token": body["access_token"],
        "workspace_id": body["workspace"]["id"],
        "user_id": body["user"]["id"],
        "headers": {"Authorization": f"Bearer {body['access_token']}"},
    }


@dataclass
class LiveServer:
    url: str
    headers: dict[str, str]


@pytest_asyncio.fixture(scope="session")
async def _remove_committed_workspaces(database_url: str) -> AsyncIterator[None]:
    yield
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        # The live server's own workspace lives the whole session (tests' committing-* ones are
        # removed after each test, so its name must not match theirs).
        await conn.execute(
            "DELETE FROM workspaces WHERE name LIKE 'committing-%' OR name LIKE 'live-%'"
        )
    finally:
        await conn.close()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn on 127.0.0.1 in a thread of its own (its own event loop and pool, as
    another API process would have): its base URL while the block runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(recorded(app), port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "test server did not start"
        assert thread.is_alive(), "test server failed to start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(
    database_url: str, redis_url: str, _remove_committed_workspaces: None
) -> Iterator[LiveServer]:
    """Sen under uvicorn on 127.0.0.1 (a real socket, its own pool: data is committed), signed
    in as the owner of a fresh workspace."""
    app = create_app(without_worker(), db_url=database_url, queue_url=redis_url)
    with serving(app) as url:
        yield _signed_up(url)


def _signed_up(url: str) -> LiveServer:
    signup = httpx.post(
        f"{url}/api/v1/auth/signup",
        json={"workspace_name": "live-schemathesis", "email": f"{uuid.uuid4().hex}@st.vn",
              "password": PASSWORD, "full_name": "Schemathesis"},
    )  # fmt: skip
    assert signup.status_code == 201, signup.text
    return LiveServer(url, {"Authorization": f"Bearer {signup.json()['access_token']}"})


# Fixtures for every module, imported last: the harness builds on this module's helpers.
from tests.intake_harness import app_on, retry_at_once  # noqa: E402, F401
