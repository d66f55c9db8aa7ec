"""On a Citus cluster: how many shards each statement of a request runs on.

Makes the database `sen_citus_plans` on the coordinator DATABASE_URL names and on each worker
of `--workers`, migrates and distributes it (`sen citus distribute`), then drives Sen's API in
process: a workspace, an account, leads with Vietnamese names and activities. Then for each
request path measured (the lead list, a search, a conversion, a timeline) the coordinator's
auto_explain logs the plan of every statement the request sent; this prints, per path, how many
statements ran on one shard (`Task Count: 1`, a router plan) and how many on more, and the plan
of each path's main statement. Needs to read the coordinator's log (`--log`). Run from the
repository root:

    DATABASE_URL=postgresql://postgres@127.0.0.1:9700/postgres SEN_DATABASE_CITUS=1 \\
      .venv/bin/python scripts/bench/citus_plans.py --workers 127.0.0.1:9701,127.0.0.1:9702 \\
      --log /tmp/citus-cluster/coord/postgres.log
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core import citus
from app.core.db import libpq_url
from app.core.migrate import upgrade
from app.core.settings import get_settings
from app.main import create_app

DATABASE = "sen_citus_plans"
API = "/api/v1"
# auto_explain's entry: "LOG:  duration: … ms  plan:" then tab-indented lines.
_PLAN = re.compile(r"LOG:  duration: [0-9.]+ ms  plan:$")


def plans_in(lines: list[str]) -> list[list[str]]:
    """Each auto_explain plan in these log lines, as its lines (Query Text first)."""
    plans: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if _PLAN.search(line):
            current = []
            plans.append(current)
        elif current is not None and line.startswith("\t"):
            current.append(line[1:])
        else:
            current = None
    return plans


def task_counts(plan: list[str]) -> list[int]:
    return [int(m[1]) for line in plan if (m := re.search(r"Task Count: (\d+)", line))]


async def _prepare(server: str, workers: list[str]) -> str:
    url = await citus.create_database(server, DATABASE, workers)
    await upgrade(url)
    await citus.distribute(url)
    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute(
            f"ALTER DATABASE {DATABASE} SET session_preload_libraries = 'auto_explain'"
        )
        await conn.execute(f"ALTER DATABASE {DATABASE} SET auto_explain.log_min_duration = 0")
    finally:
        await conn.close()
    return url


async def _setup(http: httpx.AsyncClient) -> dict[str, Any]:
    signup = await http.post(
        f"{API}/auth/signup",
        json={"workspace_name": "Minh Phát", "email": "chu@minhphat.vn",
              "password": "mật-khẩu-thử-123", "full_name": "Chủ"},
    )  # fmt: skip
    signup.raise_for_status()
    headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    leads = []
    for n, name in enumerate(["Nguyễn Văn Ánh", "Trần Thị Bích", "Lê Hoàng Nam"] * 10):
        made = await http.post(
            f"{API}/leads",
            json={"full_name": f"{name} {n}", "company_name": f"Công ty {n}",
                  "phone": f"0912 345 {n:03d}"},
            headers=headers,
        )  # fmt: skip
        made.raise_for_status()
        leads.append(made.json()["id"])
    for n in range(5):
        note = {"type": "call", "subject": f"Gọi lần {n}", "related_type": "lead",
                "related_id": leads[0]}  # fmt: skip
        (await http.post(f"{API}/activities", json=note, headers=headers)).raise_for_status()
    return {"headers": headers, "leads": leads}


def _paths(
    http: httpx.AsyncClient, made: dict[str, Any]
) -> dict[str, Callable[[], Awaitable[httpx.Response]]]:
    headers, leads = made["headers"], made["leads"]
    deal = {"deal": {"amount": "250000000", "expected_close_date": "2027-03-31"}}
    unconverted = list(leads[1:])
    return {
        "lead list": lambda: http.get(
            f"{API}/leads?status=new&sort=-created_at&limit=50", headers=headers
        ),
        "search": lambda: http.get(f"{API}/leads?q=nguyen%20van", headers=headers),
        # Each call converts the next lead (the warm-up one, then the measured one).
        "conversion": lambda: http.post(
            f"{API}/leads/{unconverted.pop()}/convert", json=deal, headers=headers
        ),
        "timeline": lambda: http.get(f"{API}/leads/{leads[0]}/timeline", headers=headers),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", required=True, help="host:port,host:port")
    parser.add_argument("--log", type=Path, required=True, help="the coordinator's log file")
    args = parser.parse_args()
    server = os.environ["DATABASE_URL"]
    url = await _prepare(server, args.workers.split(","))
    settings = get_settings().model_copy(
        update={"readyz_checks_worker": False, "database_citus": True}
    )
    app = create_app(
        settings, db_url=url, queue_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sen.test") as http:
            made = await _setup(http)
            for name, request in _paths(http, made).items():
                await request()  # warm: the caller, settings and statements cached
                await asyncio.sleep(0.3)
                start = len(args.log.read_text(errors="replace").splitlines())
                response = await request()
                await asyncio.sleep(0.5)  # the log is written by the server, a moment later
                lines = args.log.read_text(errors="replace").splitlines()[start:]
                _report(name, response, plans_in(lines))


def _report(name: str, response: httpx.Response, plans: list[list[str]]) -> None:
    distributed = [p for p in plans if task_counts(p)]
    one = [p for p in distributed if max(task_counts(p)) == 1]
    print(f"\n## {name}: HTTP {response.status_code}, {len(plans)} statements, "
          f"{len(distributed)} on distributed tables, {len(one)} of them on one shard")  # fmt: skip
    for plan in distributed:
        if max(task_counts(plan)) > 1:
            print("MORE THAN ONE SHARD:", "\n".join(plan[:12]))
    if distributed:
        main = max(distributed, key=len)
        print("```\n" + "\n".join(line for line in main[:40]) + "\n```")


if __name__ == "__main__":
    asyncio.run(main())
