"""The lead list on 1, 2… API processes: `sen api --workers W` against the bare FastAPI + asyncpg
endpoint under uvicorn with the same number of worker processes, in the same run.

It loads N leads as `leads.py` does (database `sen_bench` on DATABASE_URL's server, recreated),
then for each W in --workers starts Sen with `sen api --workers W` and `bare_app.py` with
BENCH_WORKERS=W (uvicorn's own `workers=W`), drives
`GET …/leads?status=new&sort=-created_at&limit=50` on each with `loadgen.py`, --rounds times with
bare and Sen alternating, and prints requests/s, p50 and p99 of each case's median round, the
median of the rounds' Sen/bare ratios, and how each scales from the first W.

Nothing is pinned: with W processes on a machine of W cores the servers need every core, so the
load generator, PostgreSQL and the servers share them (say so when you quote the figures).

Run from the repository root:

    .venv/bin/python scripts/bench/workers.py --leads 100000 --workers 1,2 --duration 10 \\
        --warmup 3 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from leads import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    LIST_PATH,
    Case,
    Server,
    _fmt,
    _log_errors,
    _median_round,
    drop_database,
    owner_authorization,
    prepare,
    run_load,
    sanity_check,
    start_process,
)

SEN = str(Path(sys.executable).with_name("sen"))


def api_processes(server: Server) -> int:
    """How many processes serve: the parent's multiprocessing children, or the parent alone."""
    children = psutil.Process(server.process.pid).children()
    spawned = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
    return len(spawned) or 1


def run_workers(workers: int, data: Any, args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out
    sen_env = {
        "DATABASE_URL": data.url,
        "REDIS_URL": args.redis_url,
        "SEN_SECRET_KEY": secrets.token_urlsafe(32),
        "SEN_DATA_DIR": str(out / "sen-data"),
        "SEN_LOG_LEVEL": "WARNING",
    }
    bare_env = {
        "BENCH_DATABASE_URL": data.url,
        "BENCH_WORKSPACE_ID": str(data.workspace_id),
        "BENCH_OWNER_ID": str(data.owner_id),
        "BENCH_WORKERS": str(workers),
    }
    sen_command = [SEN, "api", "--port", "{port}", "--workers", str(workers)]
    bare_command = [sys.executable, str(BENCH_DIR / "bare_app.py")]
    sen = start_process(f"sen-w{workers}", sen_command, sen_env, None, out)
    bare: Server | None = None
    try:
        bare = start_process(f"bare-w{workers}", bare_command, bare_env, None, out)
        if api_processes(sen) != workers or api_processes(bare) != workers:
            raise RuntimeError(f"expected {workers} processes behind each server")
        auth = owner_authorization(sen)
        sanity_check(sen, bare, auth)
        cases = {
            "bare-list": Case("bare-list", bare, "GET", LIST_PATH),
            "sen-list": Case(
                "sen-list", sen, "GET", "/api/v1" + LIST_PATH, [f"Authorization: {auth}"]
            ),
        }
        rounds: dict[str, list[dict[str, Any]]] = {}
        for number in range(1, args.rounds + 1):
            for name, case in cases.items():  # bare, then Sen: a noisy spell hits both
                print(
                    f"   {workers} process(es), round {number}/{args.rounds} {name}: "
                    f"{args.duration:g} s at {args.concurrency} conns",
                    file=sys.stderr,
                )
                rounds.setdefault(name, []).append(run_load(case, args, None))
    finally:
        sen.stop()
        if bare is not None:
            bare.stop()
    pairs = list(zip(rounds["sen-list"], rounds["bare-list"], strict=True))
    return {
        "workers": workers,
        "results": {name: _median_round(runs) for name, runs in rounds.items()},
        "rounds": rounds,
        "ratio": {
            "throughput": statistics.median(s["rps"] / b["rps"] for s, b in pairs),
            "p50": statistics.median(s["p50_ms"] / b["p50_ms"] for s, b in pairs),
            "p99": statistics.median(s["p99_ms"] / b["p99_ms"] for s, b in pairs),
        },
        "sen_log_errors": _log_errors(sen.log),
    }


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.leads:,} leads; list `{LIST_PATH}`; {args.concurrency} keep-alive connections, "
        f"{args.duration:g} s per case after {args.warmup:g} s warm-up, {args.rounds} round(s) "
        f"with bare and Sen alternating, median round; {os.cpu_count()} CPUs, nothing pinned "
        "(servers, load generator and PostgreSQL share them).",
        "",
        "| processes | case | requests/s | p50 ms | p99 ms | non-2xx |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        for name in ("sen-list", "bare-list"):
            r = run["results"][name]
            bad = r["requests"] - r["ok"] + r["connection_failures"]
            lines.append(
                f"| {run['workers']} | {name} | {_fmt(r['rps'])} | {_fmt(r['p50_ms'], 2)} "
                f"| {_fmt(r['p99_ms'], 2)} | {bad} |"
            )
    lines += [
        "",
        "| processes | Sen/bare throughput | Sen/bare p50 | Sen/bare p99 "
        "| Sen vs first row | bare vs first row |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    first = runs[0]["results"]
    for run in runs:
        res, ratio = run["results"], run["ratio"]
        sen_gain = res["sen-list"]["rps"] / first["sen-list"]["rps"]
        bare_gain = res["bare-list"]["rps"] / first["bare-list"]["rps"]
        lines.append(
            f"| {run['workers']} | {ratio['throughput']:.2f}× | {ratio['p50']:.2f}× "
            f"| {ratio['p99']:.2f}× | {sen_gain:.2f}× | {bare_gain:.2f}× |"
        )
    if args.rounds > 1:
        lines += ["", "Requests/s by round:", ""]
        for run in runs:
            for name in ("sen-list", "bare-list"):
                by_round = ", ".join(_fmt(v) for v in run["results"][name]["rps_by_round"])
                lines.append(f"- {run['workers']} process(es), {name}: {by_round}")
    for run in runs:
        if run["sen_log_errors"]:
            lines += ["", f"Errors in Sen's log ({run['workers']} processes):", "", "```"]
            lines += [*run["sen_log_errors"], "```"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The lead list on 1, 2… processes: Sen against bare FastAPI + asyncpg.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--leads", type=int, default=100_000, help="Leads in the workspace")
    parser.add_argument("--workers", default="1,2", help="Comma-separated process counts")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds measured per case")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds, bare and Sen alternating")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("/tmp/sen-bench-workers"))
    parser.add_argument("--keep-database", action="store_true", help="Leave sen_bench behind")
    args = parser.parse_args(argv)
    args.worker_counts = [int(w) for w in args.workers.split(",")]
    args.database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    args.redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"== {args.leads:,} leads: preparing the database", file=sys.stderr)
    data = asyncio.run(prepare(args.database_url, args.leads))
    try:
        runs = [run_workers(workers, data, args) for workers in args.worker_counts]
    finally:
        if not args.keep_database:
            asyncio.run(drop_database(args.database_url))
    (args.out / "results.json").write_text(json.dumps(runs, indent=2, default=str))
    print(report(runs, args))


if __name__ == "__main__":
    main()
