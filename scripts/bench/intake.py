"""Form intake: submissions Sen accepts per second against a bare FastAPI + asyncpg endpoint
storing the same row, in the same run; then the time from a form's POST to its lead with one
worker process under the same load.

1. Prepare: the database `sen_bench_intake` (SEN_BENCH_DATABASE) on DATABASE_URL's server
   (default postgresql://postgres@127.0.0.1:5432/) is dropped and recreated and migrated; a
   workspace and its owner are made with Sen's service (as `leads.py` does) and one web form
   through Sen's API (`full_name` required, `phone` required tel, `email`).
2. Accepted per second: `sen-intake` is `POST /api/v1/intake/forms/{key}`, `bare-intake` is
   `bare_app.py`'s `POST /intake/forms/{key}` (the form looked up by key, the submission
   INSERTed, 202, nothing queued), both with JSON bodies of Vietnamese-looking names and
   distinct phones, at --concurrency keep-alive connections for --duration seconds after
   --warmup, --rounds times with bare and Sen alternating. Sen's worker does NOT run here: its
   nudges wait in Redis, so the figure is the API's alone. Its rate limit is off
   (SEN_INTAKE_POSTS_PER_MINUTE=0).
3. Latency to lead: what step 2 stored is cleared (submissions, the queue), one `sen worker`
   process starts, pinned with the API to the server core (--worker-unpinned: on any core),
   and Sen's API takes the same load once more. The load generator records when each
   accepted POST was sent; after the load the database is watched until every submission is
   processed. One clock for both ends: this host's system clock, read by the load generator
   at the send and by Sen's worker for the lead's `created_at` (every process runs on this
   machine; PostgreSQL's clock is not used). Reported: p50/p95/p99 of POST sent → lead
   created (and its two halves, split at the submission's `received_at`), how many were still
   waiting when the load ended, how long the backlog took to drain, and the worker's pace.

Servers (Sen, the bare app, the worker) run on one core and the load generator on the other;
PostgreSQL is not pinned. Prints a markdown table; raw results and logs go to --out (default
/tmp/sen-bench/intake). Redis is SEN_BENCH_REDIS_URL (default redis://127.0.0.1:6379/14):
arq's keys there are deleted before each phase and at the end. Run from the repository root:

    .venv/bin/python scripts/bench/intake.py --duration 2 --rounds 1           # smoke run
    .venv/bin/python scripts/bench/intake.py --duration 20 --rounds 3 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import leads as bench  # noqa: E402  (the shared helpers: database, servers, load generator)
from loadgen import percentile  # noqa: E402

from app.core.migrate import upgrade  # noqa: E402
from app.core.queue import HEARTBEAT_KEY  # noqa: E402

DATABASE = os.environ.get("SEN_BENCH_DATABASE", "sen_bench_intake")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SEN_PATH = "/api/v1/intake/forms/{key}"
BARE_PATH = "/intake/forms/{key}"
CASES = ("bare-intake", "sen-intake")
FORM = {
    "name": "Đăng ký tư vấn (bench)",
    "fields": [
        {"name": "full_name", "label": "Họ và tên", "required": True},
        {"name": "phone", "label": "Số điện thoại", "type": "tel", "required": True},
        {"name": "email", "label": "Email", "type": "email"},
    ],
}
NAME_PARTS = (bench.FAMILY, bench.MIDDLE, bench.GIVEN)  # family, middle, given names
TO_LEAD = "POST sent → lead created"
TARGET_RATIO = 0.6
TARGET_P95_SECONDS = 1.0


# ----------------------------------------------------------------------------- preparing


def form_bodies(count: int, seed: int = 10) -> Iterator[dict[str, str]]:
    """Form posts of Vietnamese-looking people, each with its own phone (and email, where it
    has one), so none of them is a duplicate of another when the worker makes the leads."""
    rng = random.Random(seed)
    prefixes = bench.PHONE_PREFIXES
    for n in range(count):
        family, middle, given = (rng.choice(part) for part in NAME_PARTS)
        # n → (prefix, number) is one-to-one, and 7919 is prime to 10⁷: distinct phones.
        number = (n // len(prefixes) * 7919 + 1_234_567) % 10_000_000
        digits = f"{prefixes[n % len(prefixes)]}{number:07d}"
        body = {
            "full_name": f"{family} {middle} {given}",
            "phone": f"{digits[:4]} {digits[4:7]} {digits[7:]}",
        }
        if rng.random() < 0.7:
            local = f"{given}.{family}".lower().translate(bench._ASCII)
            body["email"] = f"{local}.{n}@{rng.choice(bench.MAIL_DOMAINS)}"
        yield body


def write_bodies(path: Path, count: int) -> Path:
    lines = (json.dumps(body, ensure_ascii=False) for body in form_bodies(count))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def prepare(base_url: str) -> bench.Dataset:
    """An empty migrated database with a workspace and its owner (no leads)."""
    url = await bench.recreate_database(base_url, DATABASE)
    await upgrade(url)
    workspace_id, owner_id = await bench.create_owner(url)
    return bench.Dataset(url, 0, workspace_id, owner_id, 0.0, 0.0)


def create_form(sen: bench.Server) -> str:
    """The benchmark's web form, made by the owner through Sen's API; its public key."""
    created = httpx.post(
        sen.url("/api/v1/forms"),
        json=FORM,
        headers={"Authorization": bench.owner_authorization(sen)},
    )
    created.raise_for_status()
    return str(created.json()["key"])


async def clear_intake(url: str, redis_url: str) -> None:
    """Nothing stored or queued by an earlier phase (or run) is left for the worker."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE submissions")
    finally:
        await conn.close()
    await clear_queue(redis_url)


async def clear_queue(redis_url: str) -> None:
    """arq's keys (queue, jobs, results) and the worker's heartbeat."""
    redis = Redis.from_url(redis_url)
    try:
        stale = [key async for key in redis.scan_iter(match="arq:*", count=1000)]
        await redis.delete(HEARTBEAT_KEY, *stale)  # the heartbeat: /readyz waits for ours
    finally:
        await redis.aclose()


def sanity_check(sen: bench.Server, bare: bench.Server, key: str) -> None:
    """Both endpoints accept a post and answer its submission's id before anything is timed."""
    body = {"full_name": "Nguyễn Văn Ánh", "phone": "0912 345 678"}
    for server, path in ((sen, SEN_PATH), (bare, BARE_PATH)):
        answer = httpx.post(server.url(path.format(key=key)), json=body)
        if answer.status_code != 202 or "submission_id" not in answer.json():
            raise RuntimeError(f"{server.name} refused a form post: {answer.text[:500]}")


# ----------------------------------------------------------------------------- phases


def accepted_per_second(
    sen: bench.Server, bare: bench.Server, key: str, bodies: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Step 2: both endpoints, --rounds times, bare then Sen; no worker runs."""
    client_cpu = args.cpus[1]
    cases = {
        name: bench.Case(name, server, "POST", path.format(key=key), [], bodies)
        for name, server, path in (("bare-intake", bare, BARE_PATH), ("sen-intake", sen, SEN_PATH))
    }
    rounds: dict[str, list[dict[str, Any]]] = {}
    for number in range(1, args.rounds + 1):
        for name in CASES:
            print(
                f"   round {number}/{args.rounds} {name}: {args.duration:g} s at "
                f"{args.concurrency} conns (no worker)",
                file=sys.stderr,
            )
            rounds.setdefault(name, []).append(bench.run_load(cases[name], args, client_cpu))
    return {
        "results": {name: bench._median_round(runs) for name, runs in rounds.items()},
        "rounds": rounds,
        "ratio": bench._ratio(rounds["sen-intake"], rounds["bare-intake"]),
    }


def start_worker(sen: bench.Server, data: bench.Dataset, args: argparse.Namespace) -> bench.Server:
    """One `sen worker` process on the servers' core, ready once Sen's /readyz sees its
    heartbeat (cleared beforehand, so an earlier worker's can't pass for it)."""
    env = {
        "DATABASE_URL": data.url,
        "REDIS_URL": args.redis_url,
        "SEN_DATA_DIR": str(args.out / "sen-data"),
        "SEN_LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).with_name("sen")), "worker"]

    def beating(_: bench.Server) -> bool:
        return httpx.get(sen.url("/readyz"), timeout=1).status_code == 200

    cpu = None if args.worker_unpinned else args.cpus[0]
    return bench.start_process("worker", command, env, cpu, args.out, ready=beating)


def latency_to_lead(
    sen: bench.Server, key: str, bodies: Path, data: bench.Dataset, args: argparse.Namespace
) -> dict[str, Any]:
    """Step 3: Sen's API under the same load with one worker running; then, for each POST
    accepted in the measured window, its send time against its lead's created_at."""
    sent_log = args.out / "lead-latency-sent.jsonl"
    case = bench.Case("sen-intake", sen, "POST", SEN_PATH.format(key=key), [], bodies, sent_log)
    print(
        f"   latency to lead: {args.duration:g} s at {args.concurrency} conns, one worker",
        file=sys.stderr,
    )
    load = bench.run_load(case, args, args.cpus[1])
    load_end = time.time()
    waiting_at_end, waited = asyncio.run(watch_backlog(data.url, args.drain_timeout))
    print(f"   backlog: {waiting_at_end} at the end of the load", file=sys.stderr)
    sent: dict[uuid.UUID, float] = {}
    for line in sent_log.read_text().splitlines():
        record = json.loads(line)
        sent[uuid.UUID(json.loads(record["body"])["submission_id"])] = record["sent"]
    rows = asyncio.run(submission_times(data.url))
    return {
        "load": load,
        **lead_times(rows, sent, load_end),
        "waiting_at_end": waiting_at_end,
        "still_waiting": waited,
    }


async def watch_backlog(url: str, give_up_after: float) -> tuple[int, int]:
    """Submissions still waiting now, and still waiting when the backlog drained (0) or
    `give_up_after` seconds passed."""
    conn = await asyncpg.connect(url)
    query = "SELECT count(*) FROM submissions WHERE status = 'received'"
    try:
        at_end = waiting = int(await conn.fetchval(query))
        deadline = time.monotonic() + give_up_after
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            waiting = int(await conn.fetchval(query))
    finally:
        await conn.close()
    return at_end, waiting


async def submission_times(url: str) -> list[asyncpg.Record]:
    """Every submission of the phase with its stamps and its lead's created_at (if any)."""
    conn = await asyncpg.connect(url)
    try:
        return list(
            await conn.fetch(
                "SELECT s.id, s.status, s.received_at, s.processed_at, l.created_at"
                " FROM submissions s LEFT JOIN leads l"
                " ON l.workspace_id = s.workspace_id AND l.submission_id = s.id"
            )
        )
    finally:
        await conn.close()


def lead_times(
    rows: list[asyncpg.Record], sent: dict[uuid.UUID, float], load_end: float
) -> dict[str, Any]:
    """Percentiles of POST sent → lead created (and its two halves: the API's part, up to the
    submission's received_at, and the queue's and worker's after it), outcomes, drain time
    and the worker's pace. All times are this host's system clock, in seconds."""
    to_lead, to_stored, stored_to_lead = [], [], []
    for row in rows:
        sent_at = sent.get(row["id"])
        if sent_at is None or row["created_at"] is None:
            continue  # a warm-up post, one in flight at the end, or one that made no lead
        received, created = row["received_at"].timestamp(), row["created_at"].timestamp()
        to_lead.append(created - sent_at)
        to_stored.append(received - sent_at)
        stored_to_lead.append(created - received)
    processed = sorted(r["processed_at"].timestamp() for r in rows if r["processed_at"])
    return {
        "stored": len(rows),
        "measured": len(sent),
        "outcomes": dict(Counter(r["status"] for r in rows)),
        "intervals": {
            TO_LEAD: _quantiles(to_lead),
            "POST sent → submission stored (API)": _quantiles(to_stored),
            "stored → lead created (queue + worker)": _quantiles(stored_to_lead),
        },
        "drain_seconds": max(0.0, processed[-1] - load_end) if processed else None,
        "worker_per_second": (
            (len(processed) - 1) / (processed[-1] - processed[0]) if len(processed) > 1 else None
        ),
    }


def _quantiles(seconds: list[float]) -> dict[str, float | int]:
    ordered = sorted(seconds)
    quantiles: dict[str, float | int] = {"count": len(ordered)}
    for name, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
        quantiles[f"{name}_ms"] = percentile(ordered, fraction) * 1000
    return quantiles


# ----------------------------------------------------------------------------- report


def report(throughput: dict[str, Any], latency: dict[str, Any], args: argparse.Namespace) -> str:
    server_cpu, client_cpu = args.cpus
    results, ratio = throughput["results"], throughput["ratio"]
    lines = [
        f"Form intake: {args.concurrency} keep-alive connections, {args.duration:g} s per case "
        f"after {args.warmup:g} s warm-up; servers on CPU {server_cpu}, client on CPU "
        f"{client_cpu}, PostgreSQL unpinned; {os.cpu_count()} CPUs.",
        "",
        f"### Accepted submissions per second ({args.rounds} round(s), bare and Sen "
        "alternating, median round)",
        "",
        "Sen's worker is not running in this phase (its nudges wait in Redis): the figure is "
        "the API's alone. Sen's rate limit is off (SEN_INTAKE_POSTS_PER_MINUTE=0).",
        "",
        "| case | requests/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
        *(_case_row(name, results[name]) for name in ("sen-intake", "bare-intake")),
        f"| **sen/bare** (target ≥ {TARGET_RATIO}×) | {ratio['throughput']:.2f}× throughput "
        f"| {ratio['p50']:.2f}× p50 | {ratio['p99']:.2f}× p99 | |",
    ]
    if args.rounds > 1:
        lines += ["", "Requests/s by round:", ""]
        lines += [
            f"- {name}: {', '.join(bench._fmt(v) for v in results[name]['rps_by_round'])}"
            for name in CASES
        ]
    lines += _latency_report(latency, args)
    return "\n".join(lines)


def _case_row(name: str, result: dict[str, Any]) -> str:
    bad = result["requests"] - result["ok"] + result["connection_failures"]
    return (
        f"| {name} | {bench._fmt(result['rps'])} | {bench._fmt(result['p50_ms'], 2)} "
        f"| {bench._fmt(result['p99_ms'], 2)} | {bad} |"
    )


def where_worker(args: argparse.Namespace) -> str:
    if args.worker_unpinned:
        return "on any core (not pinned)"
    return f"on CPU {args.cpus[0]}, beside the API"


def _latency_report(latency: dict[str, Any], args: argparse.Namespace) -> list[str]:
    drain = latency["drain_seconds"]
    pace = latency["worker_per_second"]
    lines = [
        "",
        f"### Time from POST to lead, one worker process ({args.duration:g} s of load)",
        "",
        f"One `sen worker` process (arq) {where_worker(args)}. One clock for "
        "both ends: this host's system clock, read by the load generator when it sent the "
        "POST and by Sen's worker for the lead's `created_at` (stamped as it makes the lead; "
        "the job commits right after). PostgreSQL's clock is not used.",
        "",
        "| case | requests/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
        _case_row("sen-intake, worker running", latency["load"]),
        "",
        f"| interval ({latency['measured']:,} posts accepted in the measured window) "
        "| leads | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, q in latency["intervals"].items():
        target = f" (p95 target < {TARGET_P95_SECONDS:g} s)" if name == TO_LEAD else ""
        lines.append(
            f"| {name}{target} | {q['count']:,} | {bench._fmt(q['p50_ms'])} "
            f"| {bench._fmt(q['p95_ms'])} | {bench._fmt(q['p99_ms'])} | {bench._fmt(q['max_ms'])} |"
        )
    outcomes = ", ".join(f"{status} {n:,}" for status, n in sorted(latency["outcomes"].items()))
    lines += [
        "",
        f"- Stored in this phase (warm-up included): {latency['stored']:,}; outcomes: {outcomes}.",
        f"- Still waiting at the end of the load: {latency['waiting_at_end']:,}; "
        + (
            f"the backlog drained {drain:.1f} s after the load ended (last `processed_at`)."
            if not latency["still_waiting"] and drain is not None
            else f"{latency['still_waiting']:,} still waiting after {args.drain_timeout:g} s."
        ),
        "- Worker pace: "
        + (f"{pace:,.1f} submissions/s (first to last `processed_at`)." if pace else "n/a."),
    ]
    if latency["outcomes"].get("duplicate"):
        lines.append("- Duplicates mean the bodies repeated: raise their count (see --help).")
    return lines


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Form intake: Sen vs bare FastAPI + asyncpg, and the time to the lead.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds measured per case")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds, bare and Sen alternating")
    parser.add_argument(
        "--drain-timeout", type=float, default=600.0,
        help="Seconds to wait for the worker to process the backlog after the load",
    )  # fmt: skip
    parser.add_argument(
        "--posts-per-connection-second", type=float, default=40.0,
        help="Distinct bodies per connection and second of load (more if duplicates appear)",
    )  # fmt: skip
    parser.add_argument(
        "--worker-unpinned", action="store_true",
        help="Let the worker run on any core, instead of the API's",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("/tmp/sen-bench/intake"))
    parser.add_argument("--keep-database", action="store_true", help=f"Leave {DATABASE} behind")
    args = parser.parse_args(argv)
    args.database_url = os.environ.get("DATABASE_URL") or bench.DEFAULT_DATABASE_URL
    args.redis_url = os.environ.get("SEN_BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.cpus = bench.pick_cpus()
    server_cpu = args.cpus[0]
    print(f"== preparing {DATABASE}", file=sys.stderr)
    data = asyncio.run(prepare(args.database_url))
    asyncio.run(clear_intake(data.url, args.redis_url))
    # The load generator gives each connection its own run of bodies: enough that none
    # wraps into the next one's, so every accepted post is a new person.
    per_connection = args.posts_per_connection_second * (args.warmup + args.duration)
    bodies = write_bodies(args.out / "bodies.jsonl", int(args.concurrency * per_connection))
    sen_env = {
        **bench.sen_env(data, args.redis_url, args.out, secrets.token_urlsafe(32)),
        "SEN_INTAKE_POSTS_PER_MINUTE": "0",
    }
    bare_env = {
        "BENCH_DATABASE_URL": data.url,
        "BENCH_WORKSPACE_ID": str(data.workspace_id),
        "BENCH_OWNER_ID": str(data.owner_id),
    }
    sen = bench.start_server("sen", "sen_app.py", sen_env, server_cpu, args.out)
    bare: bench.Server | None = None
    worker: bench.Server | None = None
    try:
        bare = bench.start_server("bare", "bare_app.py", bare_env, server_cpu, args.out)
        key = create_form(sen)
        sanity_check(sen, bare, key)
        throughput = accepted_per_second(sen, bare, key, bodies, args)
        bare.stop()
        asyncio.run(clear_intake(data.url, args.redis_url))
        worker = start_worker(sen, data, args)
        latency = latency_to_lead(sen, key, bodies, data, args)
    finally:
        for server in (worker, bare, sen):
            if server is not None:
                server.stop()
    asyncio.run(clear_queue(args.redis_url))
    if not args.keep_database:
        asyncio.run(bench.drop_database(args.database_url, DATABASE))
    errors = {name: bench._log_errors(args.out / f"{name}.log") for name in ("sen", "worker")}
    results = {"throughput": throughput, "latency": latency, "log_errors": errors}
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(report(throughput, latency, args))
    for name, lines in errors.items():
        if lines:
            print("\n".join(["", f"Errors in {name}'s log:", "", "```", *lines, "```"]))


if __name__ == "__main__":
    main()
