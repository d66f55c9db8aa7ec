"""Run alembic from Python on an async engine: in `sen serve`, `sen migrate` and the tests."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from app.core.db import make_engine

ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return config


async def _run(url: str, action: str, revision: str) -> None:
    engine = make_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:

            def go(sync_conn: Connection) -> None:
                config = alembic_config()
                config.attributes["connection"] = sync_conn
                getattr(command, action)(config, revision)

            await conn.run_sync(go)
            await conn.commit()
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    await _run(url, "upgrade", revision)


async def downgrade(url: str, revision: str = "base") -> None:
    await _run(url, "downgrade", revision)
