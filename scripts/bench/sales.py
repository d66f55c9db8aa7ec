"""Lead conversion and record timelines, measured beside a ceiling in the same run.

1. Conversions: 16 concurrent clients each convert unconverted leads through Sen's API
   (`POST /api/v1/leads/{id}/convert` with a deal: a new account, contact and deal, the links,
   history and the lead's own update, in one transaction), against the same three INSERTs
   (account, contact, deal) done by 16 bare asyncpg transactions on the same database.
2. Timeline: `GET /api/v1/leads/{id}/timeline` (a page of 50, newest first) on a lead with
   10,000 activities and on one with 100 (both pages full), at 32 keep-alive connections: the
   page must cost the same whatever the record's past.

Sen runs pinned to one core (uvicorn, one worker), the clients on the other; PostgreSQL is not
pinned. Run from the repository root (needs a PostgreSQL it may create `sen_bench` on):

    .venv/bin/python scripts/bench/sales.py --conversions 3000 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parents[1]))

import leads as bench  # noqa: E402  (the shared helpers: database, servers, load generator)

from app.core.ids import new_id  # noqa: E402
from app.core.search import search_text  # noqa: E402

CONCURRENCY = 16


# ----------------------------------------------------------------------------- conversions


async def lead_ids(url: str, workspace_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT l.id FROM leads l JOIN lead_statuses s"
            " ON s.workspace_id = l.workspace_id AND s.key = l.status"
            " WHERE l.workspace_id = $1 AND l.company_name IS NOT NULL"
            " AND s.category NOT IN ('disqualified', 'converted') ORDER BY l.id LIMIT $2",
            workspace_id,
            count,
        )
    finally:
        await conn.close()
    return [row["id"] for row in rows]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def convert_through_sen(
    base: str, authorization: str, ids: list[uuid.UUID], warmup: int, pid: int
) -> dict[str, Any]:
    """16 clients take the next lead and convert it with a deal; the first `warmup` ones are
    not measured. Also the CPU time Sen's process (`pid`) spent per measured conversion."""
    queue = list(reversed(ids))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started_at: list[float] = []
    cpu_at: list[float] = []
    body = {"deal": {"amount": "250000000", "expected_close_date": "2027-03-31"}}
    headers = {"Authorization": authorization}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as http:

        async def client() -> None:
            while queue:
                lead_id = queue.pop()
                measured = len(ids) - len(queue) > warmup
                if measured and not started_at:
                    started_at.append(time.perf_counter())
                    cpu_at.append(cpu_seconds(pid))
                began = time.perf_counter()
                response = await http.post(f"/api/v1/leads/{lead_id}/convert", json=body)
                if measured:
                    latencies.append(time.perf_counter() - began)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started_at[0]
    summary = _summary(latencies, elapsed, statuses)
    summary["cpu_ms"] = 1000 * (cpu_seconds(pid) - cpu_at[0]) / len(latencies)
    return summary


async def insert_through_bare_transactions(
    url: str, workspace_id: uuid.UUID, owner_id: uuid.UUID, count: int, warmup: int
) -> dict[str, Any]:
    """The ceiling: account, contact and deal INSERTed in one asyncpg transaction, 16 at once."""
    conn = await asyncpg.connect(url)
    try:
        pipeline_id, stage_id = await conn.fetchrow(
            "SELECT p.id, s.id FROM pipelines p JOIN pipeline_stages s"
            " ON s.workspace_id = p.workspace_id AND s.pipeline_id = p.id"
            " WHERE p.workspace_id = $1 AND p.is_default ORDER BY s.position LIMIT 1",
            workspace_id,
        )
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(url, min_size=CONCURRENCY, max_size=CONCURRENCY)
    remaining = count
    latencies: list[float] = []
    started_at: list[float] = []

    async def one() -> None:
        now = datetime.now(UTC)
        account_id, contact_id, deal_id = new_id(), new_id(), new_id()
        async with pool.acquire() as c, c.transaction():
            await c.execute(
                "INSERT INTO accounts (workspace_id, id, name, type, owner_id, tags,"
                " custom_fields, search_text, created_at, updated_at, version)"
                " VALUES ($1, $2, $3, 'prospect', $4, '{}', '{}', $5, $6, $6, 1)",
                workspace_id, account_id, "Công ty TNHH Bench", owner_id,
                search_text("Công ty TNHH Bench"), now,
            )  # fmt: skip
            await c.execute(
                "INSERT INTO contacts (workspace_id, id, full_name, last_name, first_name,"
                " do_not_contact, owner_id, tags, custom_fields, search_text, created_at,"
                " updated_at, version)"
                " VALUES ($1, $2, $3, 'Nguyễn', 'Ánh', false, $4, '{}', '{}', $5, $6, $6, 1)",
                workspace_id, contact_id, "Nguyễn Văn Ánh", owner_id,
                search_text("Nguyễn Văn Ánh"), now,
            )  # fmt: skip
            await c.execute(
                "INSERT INTO deals (workspace_id, id, name, account_id, contact_id, pipeline_id,"
                " stage_id, amount, currency, probability, owner_id, status, tags, custom_fields,"
                " search_text, created_at, updated_at, version)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, 250000000, 'VND', 10, $8, 'open', '{}',"
                " '{}', $9, $10, $10, 1)",
                workspace_id, deal_id, "Công ty TNHH Bench", account_id, contact_id,
                pipeline_id, stage_id, owner_id, search_text("Công ty TNHH Bench"), now,
            )  # fmt: skip

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            measured = count - remaining > warmup
            if measured and not started_at:
                started_at.append(time.perf_counter())
            began = time.perf_counter()
            await one()
            if measured:
                latencies.append(time.perf_counter() - began)

    try:
        await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    finally:
        await pool.close()
    elapsed = time.perf_counter() - started_at[0]
    return _summary(latencies, elapsed, {200: len(latencies)})


def _summary(latencies: list[float], elapsed: float, statuses: dict[int, int]) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "per_second": len(ordered) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "statuses": statuses,
    }


# ----------------------------------------------------------------------------- timeline


async def add_activities(
    url: str, workspace_id: uuid.UUID, owner_id: uuid.UUID, lead_id: uuid.UUID, count: int
) -> None:
    """`count` activities about one lead, a minute apart, COPYed in."""
    start = datetime.now(UTC) - timedelta(minutes=count)
    rows = []
    for n in range(count):
        at = start + timedelta(minutes=n)
        rows.append((
            workspace_id, bench.uuid7_at(at, bench.random.Random(f"{lead_id}{n}")), "call",
            f"Cuộc gọi số {n}", None, at, None, None, True, at, None, None, owner_id, [],
            "lead", lead_id, at, at, None, 1,
        ))  # fmt: skip
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "activities",
            records=rows,
            columns=[
                "workspace_id", "id", "type", "subject", "body", "due_at", "duration_minutes",
                "outcome", "completed", "completed_at", "remind_at", "reminded_at", "owner_id",
                "participants", "related_type", "related_id", "created_at", "updated_at",
                "deleted_at", "version",
            ],
        )  # fmt: skip
        await conn.execute("ANALYZE activities")
    finally:
        await conn.close()


# ----------------------------------------------------------------------------- profile


def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording Sen's process until `stop_profile` (needs ptrace: root)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: skipping --profile", file=sys.stderr)
        return None
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         "--output", str(out / "convert.pyspy.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def stop_profile(recorder: subprocess.Popen[bytes], out: Path) -> dict[str, Any] | None:
    recorder.send_signal(signal.SIGINT)  # py-spy writes what it recorded, then exits
    _, err = recorder.communicate(timeout=60)
    raw = out / "convert.pyspy.txt"
    if not raw.exists():
        print(f"py-spy failed: {err.decode()[-1000:]}", file=sys.stderr)
        return None
    return bench.summarize_profile(raw)


def profile_report(profile: dict[str, Any]) -> str:
    lines = [f"\nWhere Sen's process spends its CPU in conversions ({profile['samples']} samples):"]
    for title, key in (("by package (self)", "packages"), ("Sen's code (inclusive)",
                       "app_inclusive"), ("functions (self)", "self")):  # fmt: skip
        lines += ["", f"{title}:"]
        lines += [f"  {share:5.1f} %  {name}" for name, share in profile[key]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "DATABASE_URL", bench.DEFAULT_DATABASE_URL))  # fmt: skip
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", bench.DEFAULT_REDIS_URL))
    parser.add_argument("--conversions", type=int, default=3000, help="Leads converted (each way)")
    parser.add_argument("--warmup-conversions", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds per timeline case")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32, help="Timeline connections")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sen-bench-sales"))
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on Sen during the conversions (root)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    server_cpu, client_cpu = bench.pick_cpus()

    # About half the fake leads have a status conversion takes (not disqualified, converted).
    data = asyncio.run(bench.prepare(args.database_url, 2 * args.conversions + 1000))
    ids = asyncio.run(lead_ids(data.url, data.workspace_id, args.conversions + 2))
    busy_lead, quiet_lead, ids = ids[0], ids[1], ids[2:]
    asyncio.run(add_activities(data.url, data.workspace_id, data.owner_id, busy_lead, 10_000))
    asyncio.run(add_activities(data.url, data.workspace_id, data.owner_id, quiet_lead, 100))
    for other in ids[:200]:  # the rest of the workspace's activity, 100 on each of 200 leads
        asyncio.run(add_activities(data.url, data.workspace_id, data.owner_id, other, 100))
    env = bench.sen_env(data, args.redis_url, args.out, secrets.token_urlsafe(32))
    sen = bench.start_server("sen", "sen_app.py", env, server_cpu, args.out)
    try:
        authorization = bench.owner_authorization(sen)
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        header = [f"Authorization: {authorization}"]
        timeline = {}
        for name, lead_id in (("10,000 activities", busy_lead), ("100 activities", quiet_lead)):
            path = f"/api/v1/leads/{lead_id}/timeline?limit=50"
            case = bench.Case(f"timeline {name}", sen, "GET", path, header)
            timeline[name] = bench.run_load(case, args, client_cpu)
        recorder = start_profile(sen.process.pid, args.out) if args.profile else None
        sen_conv = asyncio.run(
            convert_through_sen(
                sen.url(""), authorization, ids, args.warmup_conversions, sen.process.pid
            )
        )
        profile = stop_profile(recorder, args.out) if recorder else None
    finally:
        sen.stop()
    bare_conv = asyncio.run(
        insert_through_bare_transactions(
            data.url, data.workspace_id, data.owner_id, args.conversions, args.warmup_conversions
        )
    )
    asyncio.run(bench.drop_database(args.database_url))
    print(report(sen_conv, bare_conv, timeline, args))
    if profile:
        print(profile_report(profile))


def report(
    sen: dict[str, Any], bare: dict[str, Any], timeline: dict[str, Any], args: argparse.Namespace
) -> str:
    lines = [
        f"Conversions: {CONCURRENCY} concurrent clients, {sen['count']:,} measured after "
        f"{args.warmup_conversions} warm-up; Sen on one core, clients on the other.",
        "",
        "| conversion with a deal | per second | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| Sen `POST /leads/{{id}}/convert` | {sen['per_second']:,.1f} | {sen['p50_ms']:.1f} "
        f"| {sen['p99_ms']:.1f} |",
        f"| bare asyncpg transaction, 3 INSERTs | {bare['per_second']:,.1f} "
        f"| {bare['p50_ms']:.1f} | {bare['p99_ms']:.1f} |",
        f"| **Sen/bare** | {sen['per_second'] / bare['per_second']:.2f}× | | |",
        "",
        f"Sen's answers: {sen['statuses']}; Sen's process CPU per conversion: "
        f"{sen['cpu_ms']:.2f} ms.",
        "",
        f"Timeline page (50 entries, newest first), {args.concurrency} connections, "
        f"{args.duration:g} s after {args.warmup:g} s warm-up:",
        "",
        "| lead with | requests/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in timeline.items():
        bad = result["requests"] - result["ok"] + result["connection_failures"]
        lines.append(
            f"| {name} | {result['rps']:,.1f} | {result['p50_ms']:.1f} "
            f"| {result['p99_ms']:.1f} | {bad} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
