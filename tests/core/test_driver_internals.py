"""The private SQLAlchemy and asyncpg attributes Sen relies on (app/core/driver.py), each
touched here. After a library upgrade, this is the file that fails first, and it says which
attribute moved."""

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import bindparam, column, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import driver
from app.core.db import make_engine, make_sessionmaker, workspace_session
from app.core.transaction import state_of
from tests.conftest import World


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


def test_a_statement_shape_is_compiled_once_and_each_instance_keeps_its_values(
    engine: AsyncEngine,
) -> None:
    # _generate_cache_key, construct_params(_no_postcompile=True)
    dialect = engine.dialect
    first, first_values = driver.compile_once(select(literal_column("1")).limit(5), dialect, None)
    again, again_values = driver.compile_once(select(literal_column("1")).limit(7), dialect, None)

    assert again is first
    assert sorted(first_values.values()) == [5]
    assert sorted(again_values.values()) == [7]


def test_an_in_list_is_rendered_and_json_is_encoded_as_sqlalchemy_would(
    engine: AsyncEngine,
) -> None:
    # _bind_processors, _process_parameters_for_postcompile
    statement = select(literal_column("1")).where(
        column("id").in_([3, 4, 5]),
        column("doc") == bindparam("doc", {"hạng": "vàng"}, type_=JSONB),
    )

    sql, args = driver.driver_arguments(statement, engine.dialect)

    assert [f"${n}" in sql for n in range(1, 6)] == [True, True, True, True, False]
    assert sorted(arg for arg in args if isinstance(arg, int)) == [3, 4, 5]
    assert '{"hạng":"vàng"}' in args  # encoded by the engine's serializer (orjson)


async def test_a_driver_statement_first_in_a_session_begins_its_transaction_behind_the_wall(
    engine: AsyncEngine, world: World
) -> None:
    # _transaction, _execute_mutex, _start_transaction
    maker = make_sessionmaker(engine)
    async with workspace_session(maker, world.owner.workspace_id) as session:
        connection = await driver.driver_connection(session)
        in_transaction = connection.is_in_transaction()
        role, workspace = await connection.fetchrow(
            "SELECT current_user, current_setting('sen.workspace_id', true)"
        )
        await session.rollback()

    assert in_transaction
    assert (role, workspace) == ("sen_app", str(world.owner.workspace_id))


async def test_a_stale_settings_check_is_rolled_back_and_the_transaction_begun_again(
    engine: AsyncEngine, world: World
) -> None:
    # _top_xact: asyncpg must forget the transaction the failed check aborted
    maker = make_sessionmaker(engine)
    async with workspace_session(maker, world.owner.workspace_id) as session:
        state = state_of(session)
        state.role = "sen_app"
        state.expected_settings_version = -1  # never a workspace's version
        connection = await driver.driver_connection(session)
        stale = state.stale_settings
        workspace = await connection.fetchval("SELECT current_setting('sen.workspace_id', true)")
        async with connection.transaction():  # a SAVEPOINT inside the new transaction
            inside = await connection.fetchval("SELECT 1")
        await session.rollback()

    assert stale
    assert workspace == str(world.owner.workspace_id)
    assert inside == 1


def test_a_renamed_attribute_fails_with_its_name() -> None:
    with pytest.raises(driver.LibraryChanged, match="_top_xact"):
        driver.forget_transaction(object())  # type: ignore[arg-type]
