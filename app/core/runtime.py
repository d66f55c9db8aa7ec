"""Where the database and Redis are: the configured URLs, or embedded servers under data_dir."""

import asyncio

import asyncpg

from app.core import embedded
from app.core.db import libpq_url, with_database
from app.core.settings import Settings

EMBEDDED_DATABASE = "sen"


async def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the server if missing; returns its URL."""
    conn = await asyncpg.connect(libpq_url(server_url))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    server = await asyncio.to_thread(embedded.ensure_postgres, settings.data_dir)
    return await ensure_database(server, EMBEDDED_DATABASE)


async def redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    return await asyncio.to_thread(embedded.ensure_redis, settings.data_dir)
