"""What entering a workspace costs a transaction, packed into BEGIN's message (plain
PostgreSQL's default) or as messages of their own (the form Citus forwards, SEN_DATABASE_CITUS).

Each transaction is what the smallest request sends: BEGIN with the role, workspace and
settings-version check; one indexed read of the workspace's leads; COMMIT. The ceiling is the
same read in a bare BEGIN … COMMIT, as the connecting role, on the same connection and database.
Rounds alternate the three forms; the report is each form's median µs per transaction and its
ratio to the ceiling. Run from the repository root (the database `sen_bench_begin` is dropped
and recreated; DATABASE_URL names a PostgreSQL a superuser may use):

    .venv/bin/python scripts/bench/begin.py --transactions 5000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parents[1]))

from leads import DEFAULT_DATABASE_URL, recreate_database  # noqa: E402

from app.core.db import enter_sql, libpq_url  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.core.transaction import APP_ROLE  # noqa: E402

DATABASE = "sen_bench_begin"
READ = "SELECT id FROM leads WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"


async def _workspace(conn: asyncpg.Connection) -> tuple[uuid.UUID, int]:
    workspace = uuid.uuid4()
    await conn.execute(
        "INSERT INTO workspaces (id, name, default_currency, timezone, created_at,"
        " settings_version) VALUES ($1, 'bench', 'VND', 'Asia/Ho_Chi_Minh', now(), 0)",
        workspace,
    )
    version = await conn.fetchval(
        "SELECT settings_version FROM workspaces WHERE id = $1", workspace
    )
    return workspace, version


Transaction = Callable[[], Awaitable[None]]


def _forms(conn: asyncpg.Connection, workspace: uuid.UUID, version: int) -> dict[str, Transaction]:
    enter = enter_sql(APP_ROLE, workspace, version)

    async def bare() -> None:
        await conn.execute("BEGIN")
        await conn.fetch(READ, workspace)
        await conn.execute("COMMIT")

    async def packed() -> None:
        await conn.execute("; ".join(["BEGIN", *enter]))
        await conn.fetch(READ, workspace)
        await conn.execute("COMMIT")

    async def separate() -> None:
        await conn.execute("BEGIN")
        for statement in enter:
            await conn.execute(statement)
        await conn.fetch(READ, workspace)
        await conn.execute("COMMIT")

    return {"bare": bare, "packed": packed, "separate": separate}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = await recreate_database(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL), DATABASE)
    await upgrade(url)
    conn = await asyncpg.connect(libpq_url(url))
    try:
        workspace, version = await _workspace(conn)
        forms = _forms(conn, workspace, version)
        for run in forms.values():  # warm: prepared statements, the server's caches
            for _ in range(200):
                await run()
        timings: dict[str, list[float]] = {name: [] for name in forms}
        for _ in range(args.rounds):
            for name, run in forms.items():
                started = time.perf_counter()
                for _ in range(args.transactions):
                    await run()
                timings[name].append((time.perf_counter() - started) / args.transactions * 1e6)
    finally:
        await conn.close()
    ceiling = statistics.median(timings["bare"])
    print(f"{args.transactions} transactions × {args.rounds} rounds, one connection\n")
    print("| form | µs per transaction (median round) | ratio to bare |")
    print("|---|---:|---:|")
    for name, rounds in timings.items():
        median = statistics.median(rounds)
        print(f"| {name} | {median:.0f} | {median / ceiling:.2f}× |")


if __name__ == "__main__":
    asyncio.run(main())
