"""The statements one lead conversion sends to PostgreSQL, as the server logs them.

Creates the database `sen_bench_statements` (or $SEN_BENCH_DATABASE) with a few hundred
leads, turns on `log_statement = 'all'` for that database only, starts Sen as `sales.py` does
(uvicorn, one worker), converts a few leads to warm its caches (prepared statements, the
caller, workspace settings), then converts `--measured` more one at a time (with a deal, the
body `sales.py` sends) and prints each one's statements from the server log and how many
there were. Each logged statement is one round trip once its prepared statement is cached.

Needs to read the server's log (default /var/log/postgresql/postgresql-15-main.log, Debian's
`logging_collector = off` stderr file; usually root). Run from the repository root:

    .venv/bin/python scripts/bench/conversion_statements.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import sys
import time
from pathlib import Path

import asyncpg
import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parents[1]))

import leads as bench  # noqa: E402
import sales  # noqa: E402

from app.core.db import with_database  # noqa: E402

DATABASE = os.environ.get("SEN_BENCH_DATABASE", "sen_bench_statements")
BODY = {"deal": {"amount": "250000000", "expected_close_date": "2027-03-31"}}
# Debian's default log_line_prefix '%m [%p] %q%u@%d ': the statement follows "LOG:  ".
_STATEMENT = re.compile(r"@(?P<db>\S+) LOG:  (?:statement|execute [^:]*): (?P<sql>.*)$")


def statements_of(lines: list[str], database: str) -> list[str]:
    """The statements the log shows for `database` (continuation lines folded in)."""
    found: list[str] = []
    current: list[str] | None = None
    for line in lines:
        match = _STATEMENT.search(line)
        if match:
            current = None
            if match["db"] == database:
                current = [match["sql"]]
                found.append("")
        elif current is not None and line[:1] in ("\t", " ") and found:
            current.append(line.strip())
        else:
            current = None
        if current is not None and found:
            found[-1] = " ".join(current)
    return found


async def set_logging(url: str, database: str, value: str) -> None:
    admin = await asyncpg.connect(with_database(url, "postgres"))
    try:
        await admin.execute(f"ALTER DATABASE {database} SET log_statement = '{value}'")
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "DATABASE_URL", bench.DEFAULT_DATABASE_URL))  # fmt: skip
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", bench.DEFAULT_REDIS_URL))
    parser.add_argument("--log", type=Path, default=Path(
        "/var/log/postgresql/postgresql-15-main.log"))  # fmt: skip
    parser.add_argument("--warmup", type=int, default=5, help="Conversions before measuring")
    parser.add_argument("--measured", type=int, default=3, help="Conversions logged")
    parser.add_argument("--quiet", action="store_true", help="Counts only, not the statements")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sen-bench-statements"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    bench.BENCH_DATABASE = DATABASE

    data = asyncio.run(bench.prepare(args.database_url, 200))
    ids = asyncio.run(sales.lead_ids(data.url, data.workspace_id, args.warmup + args.measured))
    asyncio.run(set_logging(args.database_url, DATABASE, "all"))
    env = bench.sen_env(data, args.redis_url, args.out, secrets.token_urlsafe(32))
    sen = bench.start_server("sen", "sen_app.py", env, None, args.out)
    counts: list[int] = []
    try:
        authorization = bench.owner_authorization(sen)
        headers = {"Authorization": authorization}
        with httpx.Client(base_url=sen.url(""), headers=headers) as http:
            for n, lead_id in enumerate(ids):
                measured = n >= args.warmup
                offset = args.log.stat().st_size
                response = http.post(f"/api/v1/leads/{lead_id}/convert", json=BODY)
                response.raise_for_status()
                if not measured:
                    continue
                time.sleep(0.3)  # the server writes its log asynchronously
                with args.log.open(encoding="utf-8", errors="replace") as log:
                    log.seek(offset)
                    found = statements_of(log.read().splitlines(), DATABASE)
                counts.append(len(found))
                if not args.quiet:
                    print(f"-- conversion {n - args.warmup + 1}: {len(found)} statements")
                    for i, statement in enumerate(found, start=1):
                        print(f"{i:3}. {statement}")
                    print()
    finally:
        sen.stop()
        asyncio.run(set_logging(args.database_url, DATABASE, "none"))
        asyncio.run(bench.drop_database(args.database_url))
    print(f"statements per conversion with a deal: {counts}")


if __name__ == "__main__":
    main()
