"""Domain events and workflows: what the outbox costs a lead create, how many events a second go
from commit to a workflow's finished action, and how long one takes at a steady rate; each
against a ceiling measured in the same run.

1. Prepare: the database `sen_bench_events` (SEN_BENCH_DATABASE) on DATABASE_URL's server
   (default postgresql://postgres@127.0.0.1:5432/) is dropped, recreated and migrated; a
   workspace and its owner are made with Sen's service (as `leads.py` does). Redis is
   SEN_BENCH_REDIS_URL (default redis://127.0.0.1:6379/14): arq's keys there are deleted
   before each phase and at the end, so give it a database nothing else uses.
2. The outbox's cost: `POST /api/v1/leads` on Sen as it is (`with-outbox`) and on the same Sen
   with the event row left out (`without-outbox`: `sen_app.py` with BENCH_WITHOUT_OUTBOX=1,
   the record's statements without their event CTE, no dispatcher nudge; both keep
   SEN_DB_POOL_SIZE=16 connections, so two fit on a shared server), driven by
   `loadgen.py` at --concurrency keep-alive connections, --rounds times alternating. Bodies are
   distinct people (no company, each with its own phone and email), so the duplicate rules run
   and never refuse one; leads, history and events are emptied before each case. After each
   case the events are counted: one `lead.created` a lead with the outbox, none without; and
   the API process's CPU per lead is read from /proc. No worker runs in this phase: the
   nudges wait in Redis.
3. Events per second, end to end: one active workflow (`lead.created` → `add_tag`), one
   `sen worker` process, --events leads posted as fast as --concurrency connections go; from
   the first lead's `created_at` to the last run's `finished_at`. The ceiling: a bare arq
   worker (this file, `--bare-arq-worker`: one no-op job function, Sen's `max_jobs` and
   `poll_delay`) placed as Sen's is, --events jobs enqueued at --concurrency at once, from the
   first enqueue to the last job's finish time (arq's own record of it).
4. Commit to action at a steady rate: --rate leads a second (a comma list: each rate in
   turn, once the queue is empty) for --steady-seconds, sent open loop (each at its time, on a
   free connection, whatever the answers before it took; at most 256 connections), the worker
   running; per lead, its first action's `finished_at` (the run's first step) minus its
   `created_at`: p50/p95/p99/max.

One clock for both ends: this host's system clock (the API stamps `created_at`, the worker the
step's `finished_at`; every process runs here). The API is pinned to the first CPU and the
load generator / sender to the second; the worker (Sen's and the bare one) runs unpinned unless
--worker-pinned (then beside the API); PostgreSQL is not pinned. Run from the repository root:

    .venv/bin/python scripts/bench/events.py --duration 3 --rounds 1 --events 300 \\
        --steady-seconds 5                                                   # smoke run
    .venv/bin/python scripts/bench/events.py --duration 15 --rounds 3 --events 2000 \
        --rate 100,25,10 --steady-seconds 20 [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop
from redis.asyncio import Redis

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import intake  # noqa: E402  (start_worker, clear_queue)
import leads as bench  # noqa: E402  (the shared helpers: database, servers, load generator)
from loadgen import build_requests, percentile, read_response  # noqa: E402
from sales import cpu_seconds  # noqa: E402  (a process's CPU so far, from /proc)

from app.core.migrate import upgrade  # noqa: E402

DATABASE = os.environ.get("SEN_BENCH_DATABASE", "sen_bench_events")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
LEADS_PATH = "/api/v1/leads"
CASES = ("without-outbox", "with-outbox")
TAG = "bench-workflow"
WORKFLOW = {
    "name": "Gắn thẻ lead mới (bench)",
    "active": True,
    "resource": "lead",
    "trigger": {"type": "event", "event": "lead.created"},
    "actions": [{"type": "add_tag", "tag": TAG}],
}
TARGET_RATIO = 0.85
TARGET_P95_SECONDS = 1.0
BARE_FUNCTION = "bench_noop"
EMPTIED = "leads, record_changes, events, automation_runs"
# Where each phase's people start (their phones and emails), so no phase repeats another's.
SANITY_FIRST, E2E_FIRST, STEADY_FIRST = 9_000_000, 10_000_000, 20_000_000


# ----------------------------------------------------------------------------- preparing


def lead_bodies(count: int, seed: int, first: int = 0) -> Iterator[dict[str, Any]]:
    """POST /leads bodies of distinct people: `leads.py`'s fake leads with no company (so the
    name-and-company rule can't hold) and a phone and email of their own (n → phone is one to
    one, as in `intake.py`; each phase its own range of n from `first`), so the duplicate
    rules check every one and refuse none."""
    faker = bench.LeadFaker(seed)
    prefixes = bench.PHONE_PREFIXES
    for n in range(first, first + count):
        body = faker.body()
        number = (n // len(prefixes) * 7919 + 1_234_567) % 10_000_000
        digits = f"{prefixes[n % len(prefixes)]}{number:07d}"
        body["phone"] = f"{digits[:4]} {digits[4:7]} {digits[7:]}"
        body["email"] = f"lead.{seed}.{n}@{faker.rng.choice(bench.MAIL_DOMAINS)}"
        body["company_name"] = None
        yield body


def write_bodies(path: Path, count: int, seed: int) -> Path:
    lines = (json.dumps(body, ensure_ascii=False) for body in lead_bodies(count, seed))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def prepare(base_url: str) -> bench.Dataset:
    """An empty migrated database with a workspace and its owner (no leads)."""
    url = await bench.recreate_database(base_url, DATABASE)
    await upgrade(url)
    workspace_id, owner_id = await bench.create_owner(url)
    return bench.Dataset(url, 0, workspace_id, owner_id, 0.0, 0.0)


async def empty_tables(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"TRUNCATE {EMPTIED} CASCADE")  # deals… refer to leads: empty here
    finally:
        await conn.close()


async def count_rows(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM leads) AS leads,"
            " (SELECT count(*) FROM record_changes WHERE resource = 'lead') AS history,"
            " (SELECT count(*) FROM events WHERE type = 'lead.created') AS events"
        )
    finally:
        await conn.close()
    return dict(row)


def check_outbox(name: str, rows: dict[str, int]) -> None:
    """With the outbox every lead has its history row and its event; without, no event."""
    expected = rows["leads"] if name == "with-outbox" else 0
    if rows["history"] != rows["leads"] or rows["events"] != expected or not rows["leads"]:
        raise RuntimeError(f"{name}: {rows} (expected {expected} lead.created events)")


# ----------------------------------------------------------------------------- 1: the outbox


def outbox_cost(
    servers: dict[str, bench.Server], auth: str, bodies: Path, data: bench.Dataset, args: Any
) -> dict[str, Any]:
    header = [f"Authorization: {auth}"]
    cases = {
        name: bench.Case(name, server, "POST", LEADS_PATH, header, bodies)
        for name, server in servers.items()
    }
    rounds: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, list[dict[str, int]]] = {}
    cpu_ms: dict[str, list[float]] = {}  # the API process's CPU per lead made
    for number in range(1, args.rounds + 1):
        for name in CASES:
            asyncio.run(empty_tables(data.url))
            asyncio.run(intake.clear_queue(args.redis_url))
            print(
                f"   round {number}/{args.rounds} {name}: {args.duration:g} s at "
                f"{args.concurrency} conns",
                file=sys.stderr,
            )
            pid = servers[name].process.pid
            cpu_before = cpu_seconds(pid)
            rounds.setdefault(name, []).append(bench.run_load(cases[name], args, args.cpus[1]))
            cpu = cpu_seconds(pid) - cpu_before
            rows = asyncio.run(count_rows(data.url))
            check_outbox(name, rows)
            counts.setdefault(name, []).append(rows)
            cpu_ms.setdefault(name, []).append(1000 * cpu / rows["leads"])
    return {
        "results": {name: bench._median_round(runs) for name, runs in rounds.items()},
        "rounds": rounds,
        "counts": counts,
        "cpu_ms": cpu_ms,
        "ratio": bench._ratio(rounds["with-outbox"], rounds["without-outbox"]),
        # Leads a second one core could make, with over without: the figure noise moves least.
        "cpu_ratio": statistics.median(
            w / o for w, o in zip(cpu_ms["without-outbox"], cpu_ms["with-outbox"], strict=True)
        ),
    }


def owner_authorization(sen: bench.Server) -> str:
    """`leads.py`'s sign-in, with time for a password hash on a busy machine."""
    token = httpx.post(
        sen.url("/api/v1/auth/token"),
        data={"username": bench.OWNER_EMAIL, "password": bench.OWNER_PASSWORD},
        timeout=60,
    )
    token.raise_for_status()
    return f"Bearer {token.json()['access_token']}"


def sanity_check(servers: dict[str, bench.Server], auth: str, data: bench.Dataset) -> None:
    """One lead through each server: its event is there with the outbox and absent without."""
    for name, server in servers.items():
        body = next(lead_bodies(1, seed=9, first=SANITY_FIRST + CASES.index(name)))
        made = httpx.post(
            server.url(LEADS_PATH), json=body, headers={"Authorization": auth}, timeout=60
        )
        if made.status_code != 201:
            raise RuntimeError(f"{name} refused a lead: {made.status_code} {made.text[:500]}")
        found = asyncio.run(events_of(data.url, uuid.UUID(made.json()["id"])))
        if found != (["lead.created"] if name == "with-outbox" else []):
            raise RuntimeError(f"{name}: the lead's events are {found}")


async def events_of(url: str, record_id: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT type FROM events WHERE record_id = $1", record_id)
    finally:
        await conn.close()
    return [row["type"] for row in rows]


# ----------------------------------------------------------------------------- the sender


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Sender:
    """POSTs on keep-alive connections from this process: closed loop (`burst`: every body
    as fast as `concurrency` connections go) or open loop (`paced`: body i sent at start +
    i / rate on any free connection, a new one opened when none is, up to `most`). Records
    each answer's send time (wall clock), status and body."""

    def __init__(
        self, port: int, path: str, headers: list[str], bodies: list[bytes], most: int = 256
    ) -> None:
        self.port = port
        self.requests = build_requests("POST", "127.0.0.1", port, path, headers, bodies)
        self.answers: list[tuple[float, float, int, bytes]] = []  # sent, took, status, body
        self.lateness: list[float] = []
        self.failures = 0  # connections closed or reset before an answer
        self.idle: asyncio.Queue[Connection] = asyncio.Queue()
        self.most, self.opened = most, 0  # open loop: at most `most` connections at once

    async def _post(self, conn: Connection, index: int) -> bool:
        """One POST; False when the connection can't be used again."""
        reader, writer = conn
        sent, started = time.time(), time.perf_counter()
        try:
            writer.write(self.requests[index])
            status, keep_alive, body = await read_response(reader)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            self.failures += 1
            writer.close()
            return False
        self.answers.append((sent, time.perf_counter() - started, status, body))
        if not keep_alive:
            writer.close()
        return keep_alive

    async def burst(self, concurrency: int) -> float:
        """Every body once; returns the seconds it took."""
        queue = iter(range(len(self.requests)))

        async def connection() -> None:
            conn = await asyncio.open_connection("127.0.0.1", self.port)
            for index in queue:
                if not await self._post(conn, index):
                    conn = await asyncio.open_connection("127.0.0.1", self.port)
            conn[1].close()

        started = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(concurrency)))
        return time.perf_counter() - started

    async def paced(self, rate: float) -> float:
        """Body i at start + i / rate; returns the seconds until the last answer."""
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.1
        tasks = []
        for index in range(len(self.requests)):
            due = start + index / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            conn = await self._free_connection()
            self.lateness.append(loop.time() - due)  # late when `most` were all busy
            tasks.append(asyncio.create_task(self._paced_post(conn, index)))
        await asyncio.gather(*tasks)
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()
        return loop.time() - start

    async def _free_connection(self) -> Connection:
        if self.idle.empty() and self.opened < self.most:
            self.opened += 1
            return await asyncio.open_connection("127.0.0.1", self.port)
        return await self.idle.get()

    async def _paced_post(self, conn: Connection, index: int) -> None:
        if await self._post(conn, index):
            self.idle.put_nowait(conn)
        else:
            self.opened -= 1

    def made(self) -> list[uuid.UUID]:
        return [
            uuid.UUID(json.loads(body)["id"])
            for _, _, status, body in self.answers
            if status == 201
        ]

    def refused(self) -> dict[int, int]:
        """Answers other than 201 by status; 0: connections lost before an answer."""
        seen: dict[int, int] = {0: self.failures} if self.failures else {}
        for _, _, status, _ in self.answers:
            if status != 201:
                seen[status] = seen.get(status, 0) + 1
        return seen


def send(sender: Sender, cpu: int | None, *, concurrency: int = 0, rate: float = 0.0) -> float:
    """Run the sender here, pinned to the client's CPU for the while (children started later
    must not inherit the pinning)."""
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if cpu is not None and before is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        coro = sender.paced(rate) if rate else sender.burst(concurrency)
        return uvloop.run(coro)
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


# ----------------------------------------------------------------------------- 2 and 3: workflows


def create_workflow(sen: bench.Server, auth: str) -> str:
    made = httpx.post(
        sen.url("/api/v1/automations"), json=WORKFLOW, headers={"Authorization": auth}
    )
    if made.status_code != 201:
        raise RuntimeError(f"the workflow was refused: {made.status_code} {made.text[:500]}")
    return str(made.json()["id"])


async def wait_for_runs(url: str, lead_ids: list[uuid.UUID], give_up_after: float) -> int:
    """Wait until every lead's run has ended; returns how many have not."""
    conn = await asyncpg.connect(url)
    query = (
        "SELECT count(*) FROM automation_runs WHERE record_id = ANY($1::uuid[])"
        " AND status IN ('completed', 'failed', 'skipped')"
    )
    try:
        deadline = time.monotonic() + give_up_after
        ended = 0
        while time.monotonic() < deadline:
            ended = int(await conn.fetchval(query, lead_ids))
            if ended >= len(lead_ids):
                break
            await asyncio.sleep(0.25)
    finally:
        await conn.close()
    return len(lead_ids) - ended


async def until_queue_empty(redis_url: str, give_up_after: float = 120.0) -> float:
    """Wait until arq's queue holds no job (a phase's trailing dispatchers and their retries
    are done), so the next phase starts on an idle worker; returns the seconds waited."""
    redis = Redis.from_url(redis_url)
    started = time.monotonic()
    try:
        waiting = await redis.zcard("arq:queue")
        while waiting and time.monotonic() - started < give_up_after:
            await asyncio.sleep(0.25)
            waiting = await redis.zcard("arq:queue")
    finally:
        await redis.aclose()
    return time.monotonic() - started


async def run_times(url: str, lead_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """Each lead's created_at with its run's status, created_at, first step and finished_at."""
    conn = await asyncpg.connect(url)
    try:
        return list(
            await conn.fetch(
                "SELECT l.id, l.created_at, r.status, r.created_at AS run_created,"
                " r.steps, r.finished_at, ($2 = ANY(l.tags)) AS tagged"
                " FROM leads l LEFT JOIN automation_runs r"
                " ON r.workspace_id = l.workspace_id AND r.record_id = l.id"
                " WHERE l.id = ANY($1::uuid[])",
                lead_ids,
                TAG,
            )
        )
    finally:
        await conn.close()


def step_finished(row: asyncpg.Record) -> float | None:
    steps = json.loads(row["steps"]) if isinstance(row["steps"], str) else row["steps"]
    if not steps:
        return None
    return datetime.fromisoformat(steps[0]["finished_at"]).timestamp()


def quantiles(seconds: list[float]) -> dict[str, float | int]:
    ordered = sorted(seconds)
    found: dict[str, float | int] = {"count": len(ordered)}
    for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
        found[f"{name}_ms"] = percentile(ordered, fraction) * 1000
    return found


def events_per_second(
    sen: bench.Server, worker: bench.Server, auth: str, data: bench.Dataset, args: Any
) -> dict[str, Any]:
    """Step 3, Sen's half: --events leads as fast as they go, the worker running."""
    bodies = [json.dumps(b).encode() for b in lead_bodies(args.events, 3, first=E2E_FIRST)]
    sender = Sender(sen.port, LEADS_PATH, [f"Authorization: {auth}"], bodies)
    print(f"   {args.events:,} leads as fast as {args.concurrency} conns go", file=sys.stderr)
    cpu_before = cpu_seconds(worker.process.pid), cpu_seconds(sen.process.pid)
    took = send(sender, args.cpus[1], concurrency=args.concurrency)
    made = sender.made()
    left = asyncio.run(wait_for_runs(data.url, made, args.drain_timeout))
    worker_cpu = cpu_seconds(worker.process.pid) - cpu_before[0]
    api_cpu = cpu_seconds(sen.process.pid) - cpu_before[1]
    rows = asyncio.run(run_times(data.url, made))
    first = min(r["created_at"] for r in rows).timestamp()
    finished = [r["finished_at"].timestamp() for r in rows if r["status"] == "completed"]
    runs_made = [r["run_created"].timestamp() for r in rows if r["run_created"] is not None]
    last_lead = max(r["created_at"] for r in rows).timestamp()
    return {
        "leads": len(made),
        "refused": sender.refused(),
        "posting_seconds": took,
        "posted_per_second": len(made) / took,
        "not_ended": left,
        "completed": len(finished),
        "tagged": sum(1 for r in rows if r["tagged"]),
        "seconds": max(finished) - first if finished else None,
        "per_second": len(finished) / (max(finished) - first) if finished else None,
        "dispatched_per_second": len(runs_made) / (max(runs_made) - first) if runs_made else None,
        "after_last_lead": max(finished) - last_lead if finished else None,
        "jobs": asyncio.run(jobs_run(args.redis_url, args.jobs_seen)),
        "worker_cpu_ms": 1000 * worker_cpu / len(made),
        "api_cpu_ms": 1000 * api_cpu / len(made),
    }


def steady_latency(
    sen: bench.Server,
    worker: bench.Server,
    auth: str,
    data: bench.Dataset,
    args: Any,
    rate: float,
    first: int,
) -> dict[str, Any]:
    """Step 4: `rate` leads a second for --steady-seconds, open loop, the worker running."""
    settled = asyncio.run(until_queue_empty(args.redis_url))
    count = int(rate * args.steady_seconds)
    bodies = [json.dumps(b).encode() for b in lead_bodies(count, 4, first=first)]
    sender = Sender(sen.port, LEADS_PATH, [f"Authorization: {auth}"], bodies)
    print(f"   {rate:g} leads/s for {args.steady_seconds:g} s, open loop", file=sys.stderr)
    cpu_before = cpu_seconds(worker.process.pid)
    took = send(sender, args.cpus[1], rate=rate)
    made = sender.made()
    left = asyncio.run(wait_for_runs(data.url, made, args.drain_timeout))
    worker_cpu = cpu_seconds(worker.process.pid) - cpu_before
    rows = asyncio.run(run_times(data.url, made))
    to_action, to_run, run_to_action = [], [], []
    for row in rows:
        acted = step_finished(row)
        if acted is None:
            continue
        created = row["created_at"].timestamp()
        to_action.append(acted - created)
        to_run.append(row["run_created"].timestamp() - created)
        run_to_action.append(acted - row["run_created"].timestamp())
    answers = sorted(took_ for _, took_, _, _ in sender.answers)
    return {
        "rate": rate,
        "settled_seconds": settled,
        "jobs": asyncio.run(jobs_run(args.redis_url, args.jobs_seen)),
        "worker_cpu_ms": 1000 * worker_cpu / len(made),
        "leads": len(made),
        "refused": sender.refused(),
        "seconds": took,
        "sent_per_second": len(sender.answers) / took,
        "late_p99_ms": percentile(sorted(sender.lateness), 0.99) * 1000,
        "post_p50_ms": percentile(answers, 0.5) * 1000,
        "post_p99_ms": percentile(answers, 0.99) * 1000,
        "not_ended": left,
        "intervals": {
            "lead created → action done (target p95 < 1 s)": quantiles(to_action),
            "lead created → run made (dispatcher)": quantiles(to_run),
            "run made → action done (carrier)": quantiles(run_to_action),
        },
    }


async def jobs_run(redis_url: str, seen: set[str]) -> dict[str, Any]:
    """The worker's jobs that finished since `seen` (arq keeps each result an hour), by
    function; for the dispatcher, how many handed no event over (another held the turn, or
    an earlier one had numbered its events). `seen` gains their ids."""
    from arq.jobs import Job

    redis = Redis.from_url(redis_url)
    try:
        keys = [k.decode() async for k in redis.scan_iter(match="arq:result:*", count=1000)]
        ids = [k.removeprefix("arq:result:") for k in keys]
        ids = [i for i in ids if i not in seen]
        infos = await asyncio.gather(*(Job(i, redis).result_info() for i in ids))  # type: ignore[arg-type]
    finally:
        await redis.aclose()
    seen.update(ids)
    counts: dict[str, int] = {}
    for info in infos:
        if info is None:
            continue
        counts[info.function] = counts.get(info.function, 0) + 1
        if info.function == "dispatch_events" and info.result == 0:
            counts["dispatch_events handing nothing over"] = (
                counts.get("dispatch_events handing nothing over", 0) + 1
            )
    return counts


# ----------------------------------------------------------------------------- the bare arq ceiling


async def bench_noop(ctx: dict[str, Any], n: int) -> None:
    return None


def bare_arq_worker() -> None:
    """`--bare-arq-worker`: arq with one no-op job, Sen's max_jobs and poll_delay, same Redis."""
    from arq.worker import Worker, func

    from app.core.queue import redis_settings
    from app.core.settings import get_settings

    # This directory's workers.py would shadow Sen's `workers` package.
    sys.path[:] = [str(bench.ROOT), *(p for p in sys.path if Path(p).resolve() != BENCH_DIR)]
    from workers.supervisor import POLL_SECONDS

    worker = Worker(
        functions=[func(bench_noop, name=BARE_FUNCTION)],
        redis_settings=redis_settings(os.environ["BENCH_REDIS_URL"]),
        max_jobs=get_settings().worker_jobs,
        poll_delay=POLL_SECONDS,
    )
    worker.run()


def start_bare_worker(args: Any) -> bench.Server:
    def polling(_: bench.Server) -> bool:
        async def look() -> bool:
            redis = Redis.from_url(args.redis_url)
            try:
                return bool(await redis.exists("arq:queue:health-check"))
            finally:
                await redis.aclose()

        return asyncio.run(look())

    command = [sys.executable, str(Path(__file__).resolve()), "--bare-arq-worker"]
    env = {"BENCH_REDIS_URL": args.redis_url}
    return bench.start_process("bare-arq", command, env, args.worker_cpu, args.out, ready=polling)


async def bare_arq_rate(redis_url: str, count: int, concurrency: int) -> dict[str, Any]:
    """`count` no-op jobs enqueued `concurrency` at a time; from the first enqueue to the last
    job's finish (arq's result record), and the enqueue alone."""
    from arq.connections import create_pool
    from arq.jobs import Job

    from app.core.queue import redis_settings

    pool = await create_pool(redis_settings(redis_url))
    ids = [f"bare:{uuid.uuid4()}" for _ in range(count)]
    try:
        started = time.time()
        for at in range(0, count, concurrency):
            await asyncio.gather(
                *(
                    pool.enqueue_job(BARE_FUNCTION, n, _job_id=ids[n])
                    for n in range(at, min(at + concurrency, count))
                )
            )
        enqueued = time.time()
        keys = [f"arq:result:{job_id}" for job_id in ids]
        deadline = time.monotonic() + 300
        done = 0
        while done < count and time.monotonic() < deadline:
            done = await pool.exists(*keys)
            await asyncio.sleep(0.05)
        finishes = [
            info.finish_time.timestamp()
            for info in await asyncio.gather(*(Job(i, pool).result_info() for i in ids))
            if info is not None
        ]
    finally:
        await pool.aclose()
    last = max(finishes)
    return {
        "jobs": count,
        "done": len(finishes),
        "seconds": last - started,
        "per_second": len(finishes) / (last - started),
        "enqueued_per_second": count / (enqueued - started),
    }


# ----------------------------------------------------------------------------- report


def _row(name: str, r: dict[str, Any]) -> str:
    bad = r["requests"] - r["ok"] + r["connection_failures"]
    return (
        f"| {name} | {bench._fmt(r['rps'])} | {bench._fmt(r['p50_ms'], 2)} "
        f"| {bench._fmt(r['p99_ms'], 2)} | {bad} |"
    )


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values) + " ms"


def _jobs(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items())) or "none"


def report(results: dict[str, Any], args: Any) -> str:
    server_cpu, client_cpu = args.cpus
    worker = "unpinned" if args.worker_cpu is None else f"on CPU {args.worker_cpu}"
    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    outbox, e2e, bare = (results[k] for k in ("outbox", "e2e", "bare_arq"))
    res, ratio = outbox["results"], outbox["ratio"]
    lines = [
        f"API on CPU {server_cpu}, load generator and sender on CPU {client_cpu}, workers "
        f"{worker}, PostgreSQL unpinned; {os.cpu_count()} CPUs; load average at the start "
        f"{results['load_before']}, at the end {', '.join(f'{x:.2f}' for x in load)}.",
        "",
        f"### The outbox on `POST /api/v1/leads` ({args.concurrency} connections, "
        f"{args.duration:g} s after {args.warmup:g} s warm-up, {args.rounds} round(s) "
        "alternating, median round; no worker)",
        "",
        "| case | requests/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
        *(_row(name, res[name]) for name in ("with-outbox", "without-outbox")),
        f"| **with/without** (target ≥ {TARGET_RATIO}×) | {ratio['throughput']:.2f}× "
        f"throughput | {ratio['p50']:.2f}× p50 | {ratio['p99']:.2f}× p99 | |",
        f"| API CPU per lead made: with {_ms(outbox['cpu_ms']['with-outbox'])}; without "
        f"{_ms(outbox['cpu_ms']['without-outbox'])} | **{outbox['cpu_ratio']:.2f}×** "
        "(without/with, median of rounds) | | | |",
        "",
        "Requests/s by round: "
        + "; ".join(
            f"{name} " + ", ".join(bench._fmt(v) for v in res[name]["rps_by_round"])
            for name in CASES
        )
        + ". Events counted after each case: "
        + "; ".join(
            f"{name} "
            + ", ".join(f"{c['events']:,}/{c['leads']:,}" for c in outbox["counts"][name])
            for name in CASES
        )
        + " (lead.created events / leads).",
        "",
        f"### Events end to end ({e2e['leads']:,} leads, one workflow lead.created → add_tag, "
        "one `sen worker`)",
        "",
        "| | events/s | seconds |",
        "|---|---:|---:|",
        f"| Sen: first lead created → last run completed | {bench._fmt(e2e['per_second'] or 0)} "
        f"| {bench._fmt(e2e['seconds'] or 0, 2)} |",
        f"| Sen: first lead created → last run made (dispatched) "
        f"| {bench._fmt(e2e['dispatched_per_second'] or 0)} | |",
        f"| bare arq: first enqueue → last no-op job done ({bare['jobs']:,} jobs) "
        f"| {bench._fmt(bare['per_second'])} | {bench._fmt(bare['seconds'], 2)} |",
        f"| **Sen/bare arq** | **{(e2e['per_second'] or 0) / bare['per_second']:.2f}×** | |",
        "",
        f"- Worker CPU per event: Sen {e2e['worker_cpu_ms']:.2f} ms (and the API's per lead "
        f"{e2e['api_cpu_ms']:.2f} ms), bare arq {bare['worker_cpu_ms']:.2f} ms a job: "
        f"{bare['worker_cpu_ms'] / e2e['worker_cpu_ms']:.3f}× (the figure noise moves least).",
        "",
        f"- Leads posted at {bench._fmt(e2e['posted_per_second'])}/s "
        f"({bench._fmt(e2e['posting_seconds'], 2)} s; refused: {e2e['refused'] or 'none'}); "
        f"runs completed {e2e['completed']:,}, leads tagged {e2e['tagged']:,}, not ended "
        f"{e2e['not_ended']:,}; the last run completed "
        f"{bench._fmt(e2e['after_last_lead'] or 0, 2)} s after the last lead was made.",
        "- Jobs the worker ran: " + _jobs(e2e["jobs"]) + ".",
        f"- bare arq: enqueued at {bench._fmt(bare['enqueued_per_second'])}/s, "
        f"{bare['done']:,} done.",
    ]
    for steady in results["steady"]:
        lines += _steady_report(steady, args)
    if results.get("profile"):
        prof = results["profile"]
        lines += [
            "",
            f"### py-spy on `sen worker` during the end-to-end phase ({prof['samples']} samples)",
            "",
        ]
        lines += [f"- {pct:5.1f}%  {name}" for name, pct in prof["packages"]]
        lines += ["", "Sen's own functions (inclusive):", ""]
        lines += [f"- {pct:5.1f}%  {name}" for name, pct in prof["app_inclusive"]]
        lines += ["", f"Raw stacks: {prof['raw']}"]
    return "\n".join(lines)


def _steady_report(steady: dict[str, Any], args: Any) -> list[str]:
    lines = [
        "",
        f"### Commit to action at a steady {steady['rate']:g} leads/s ({args.steady_seconds:g} s, "
        "open loop, worker running)",
        "",
        "| interval | leads | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, q in steady["intervals"].items():
        lines.append(
            f"| {name} | {q['count']:,} | {bench._fmt(q['p50_ms'])} | {bench._fmt(q['p95_ms'])} "
            f"| {bench._fmt(q['p99_ms'])} | {bench._fmt(q['max_ms'])} |"
        )
    lines += [
        "",
        f"- Sent {steady['leads']:,} at {bench._fmt(steady['sent_per_second'])}/s (refused: "
        f"{steady['refused'] or 'none'}; p99 lateness of a send "
        f"{bench._fmt(steady['late_p99_ms'], 2)} ms); POST p50 "
        f"{bench._fmt(steady['post_p50_ms'], 2)} ms, p99 {bench._fmt(steady['post_p99_ms'], 2)} "
        f"ms; runs not ended: {steady['not_ended']}; the queue was empty "
        f"{steady['settled_seconds']:.1f} s after the phase before ended.",
        "- Jobs the worker ran: " + _jobs(steady["jobs"]) + f"; worker CPU per event "
        f"{steady['worker_cpu_ms']:.2f} ms.",
    ]
    return lines


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Domain events: the outbox's cost, events/s end to end, commit to action.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds measured per case")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds before measuring")
    parser.add_argument(
        "--rounds", type=int, default=3, help="Rounds, without and with alternating"
    )
    parser.add_argument("--events", type=int, default=2000, help="Leads (events) end to end")
    parser.add_argument(
        "--rate", default="100", help="Leads a second, steady phase (a comma list: each in turn)"
    )
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    parser.add_argument(
        "--worker-pinned", action="store_true",
        help="Pin Sen's worker and the bare arq worker to the API's CPU (default: unpinned)",
    )  # fmt: skip
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--profile", action="store_true", help="py-spy the worker, end to end")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sen-bench/events"))
    parser.add_argument("--keep-database", action="store_true", help=f"Leave {DATABASE} behind")
    parser.add_argument("--bare-arq-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.database_url = os.environ.get("DATABASE_URL") or bench.DEFAULT_DATABASE_URL
    args.redis_url = os.environ.get("SEN_BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    args.rates = [float(r) for r in args.rate.split(",")]
    args.worker_unpinned = not args.worker_pinned  # for intake.start_worker
    return args


def profiled(worker: bench.Server, args: Any) -> subprocess.Popen[bytes]:
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    raw = args.out / "worker.pyspy.txt"
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(worker.process.pid), "--format", "raw",
         "--output", str(raw), "--rate", "200", "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.bare_arq_worker:
        bare_arq_worker()
        return
    args.out.mkdir(parents=True, exist_ok=True)
    args.cpus = bench.pick_cpus()
    args.worker_cpu = args.cpus[0] if args.worker_pinned else None
    results: dict[str, Any] = {"load_before": ", ".join(f"{x:.2f}" for x in os.getloadavg())}
    print(f"== preparing {DATABASE}", file=sys.stderr)
    data = asyncio.run(prepare(args.database_url))
    asyncio.run(intake.clear_queue(args.redis_url))
    per_connection = 40 * (args.warmup + args.duration)
    bodies = write_bodies(args.out / "bodies.jsonl", int(args.concurrency * per_connection), 1)
    env = bench.sen_env(data, args.redis_url, args.out, secrets.token_urlsafe(32))
    # Two APIs (16 kept + 16 overflow each, for 32 connections) fit beside other users of a
    # shared server's 100 connections; Sen's default keeps 20.
    env["SEN_DB_POOL_SIZE"] = os.environ.get("SEN_DB_POOL_SIZE", "16")
    servers: dict[str, bench.Server] = {}
    worker: bench.Server | None = None
    try:
        for name in CASES:
            variant = {**env, "BENCH_WITHOUT_OUTBOX": "1" if name == "without-outbox" else "0"}
            servers[name] = bench.start_server(name, "sen_app.py", variant, args.cpus[0], args.out)
        sen = servers["with-outbox"]
        auth = owner_authorization(sen)
        sanity_check(servers, auth, data)
        results["outbox"] = outbox_cost(servers, auth, bodies, data, args)
        servers.pop("without-outbox").stop()

        asyncio.run(empty_tables(data.url))
        asyncio.run(intake.clear_queue(args.redis_url))
        print("   bare arq: no-op jobs", file=sys.stderr)
        bare = start_bare_worker(args)
        try:
            cpu_before = cpu_seconds(bare.process.pid)
            results["bare_arq"] = asyncio.run(
                bare_arq_rate(args.redis_url, args.events, args.concurrency)
            )
            cpu = cpu_seconds(bare.process.pid) - cpu_before
            results["bare_arq"]["worker_cpu_ms"] = 1000 * cpu / args.events
        finally:
            bare.stop()
        asyncio.run(intake.clear_queue(args.redis_url))
        results["workflow_id"] = create_workflow(sen, auth)
        worker = intake.start_worker(sen, data, args)
        args.jobs_seen = set()
        recorder = profiled(worker, args) if args.profile else None
        results["e2e"] = events_per_second(sen, worker, auth, data, args)
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)  # py-spy writes what it recorded
            recorder.wait(timeout=60)
            raw = args.out / "worker.pyspy.txt"
            results["profile"] = bench.summarize_profile(raw) if raw.exists() else None
        results["steady"] = [
            steady_latency(sen, worker, auth, data, args, rate, STEADY_FIRST + n * 1_000_000)
            for n, rate in enumerate(args.rates)
        ]
    finally:
        for server in (worker, *servers.values()):
            if server is not None:
                server.stop()
    asyncio.run(intake.clear_queue(args.redis_url))
    if not args.keep_database:
        asyncio.run(bench.drop_database(args.database_url, DATABASE))
    names = ("with-outbox", "without-outbox", "worker", "bare-arq")
    results["log_errors"] = {n: bench._log_errors(args.out / f"{n}.log") for n in names}
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(report(results, args))
    for name, lines in results["log_errors"].items():
        if lines:
            print("\n".join(["", f"Errors in {name}'s log:", "", "```", *lines, "```"]))


if __name__ == "__main__":
    main()
