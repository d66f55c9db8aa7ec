"""Duplicate rules under load: `POST /api/v1/duplicates/check` against N contacts (default one
million), and contact create with the workspace's default rules on, against create with them
off, in the same run.

1. Prepare: the database `sen_bench_duplicates` (SEN_BENCH_DATABASE) on DATABASE_URL's server
   (default postgresql://postgres@127.0.0.1:5432/) is dropped, recreated and migrated; a
   workspace and its owner are made with Sen's service (its default rules seeded: same email,
   same phone, similar name with similar company); N contacts of Vietnamese-looking people are
   loaded with COPY, their keys (`email_key`, `name_key`, E.164 phone) made by Sen's own
   normalisation, indexes rebuilt, ANALYZE.
2. Check: probes are half variants of loaded contacts (the name without diacritics or in
   another order, the phone typed another way, the email in capitals — what a duplicate looks
   like at the door) and half new people. Sen answers them at one client, then at 16. The
   ceiling is PostgreSQL itself: the candidate statement Sen sends for the same probes, run
   straight on asyncpg as the app role under row-level security, one client. Reported: p50,
   p95 and requests/s, and Sen's p95 over PostgreSQL's.
3. Create: `POST /api/v1/contacts` of new people (all distinct), at --concurrency, rules on
   (the seeded defaults) and rules off (every rule deactivated), rounds alternating; the ratio
   is on/off.

Sen runs on one core and the load generator on the other. Redis: SEN_BENCH_REDIS_URL (default
redis://127.0.0.1:6379/13). Run from the repository root:

    .venv/bin/python scripts/bench/duplicates.py --contacts 20000 --duration 3    # smoke run
    .venv/bin/python scripts/bench/duplicates.py --contacts 1000000 --duration 15 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import leads as bench  # noqa: E402  (shared helpers: database, servers, load generator)
from loadgen import percentile  # noqa: E402

from app.core.match_keys import email_key, name_key  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.core.phones import to_e164  # noqa: E402
from app.core.search import search_text  # noqa: E402

DATABASE = os.environ.get("SEN_BENCH_DATABASE", "sen_bench_duplicates")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
CHECK_PATH = "/api/v1/duplicates/check"
CREATE_PATH = "/api/v1/contacts"
TARGET_P95_MS = 25.0
TARGET_CREATE_RATIO = 0.7
COLUMNS = [
    "workspace_id", "id", "full_name", "first_name", "last_name", "email", "phone", "phone_e164",
    "email_key", "name_key", "title", "province", "owner_id", "tags", "custom_fields",
    "search_text", "do_not_contact", "created_at", "updated_at", "deleted_at", "version",
]  # fmt: skip


# New people's phones: a prefix no loaded contact has, so a new person is never a known one.
NEW_PREFIX = "087"


def _person(rng: random.Random, n: int, prefix: str | None = None) -> dict[str, str]:
    family, middle, given = (rng.choice(part) for part in (bench.FAMILY, bench.MIDDLE, bench.GIVEN))
    digits = f"{prefix or rng.choice(bench.PHONE_PREFIXES)}{n % 10_000_000:07d}"
    local = f"{given}.{family}".lower().translate(bench._ASCII)
    return {
        "full_name": f"{family} {middle} {given}",
        "family": family,
        "given": given,
        "email": f"{local}{n}@{rng.choice(bench.MAIL_DOMAINS)}",
        "phone": f"{digits[:4]} {digits[4:7]} {digits[7:]}",
    }


def contact_rows(
    count: int, workspace_id: uuid.UUID, owner_id: uuid.UUID
) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(count)
    end = datetime.now(UTC) - timedelta(hours=1)
    step = timedelta(days=730) / max(count, 1)
    for n in range(count):
        p = _person(rng, n)
        created = end - step * (count - n)
        e164 = to_e164(p["phone"])
        yield (
            workspace_id, bench.uuid7_at(created, rng), p["full_name"], p["given"], p["family"],
            p["email"], p["phone"], e164, email_key(p["email"]), name_key(p["full_name"]),
            None, rng.choice(bench.PROVINCES), owner_id, [], "{}",
            search_text(p["full_name"], p["email"], p["phone"], e164), False, created, created,
            None, 1,
        )  # fmt: skip


async def load_contacts(
    url: str, count: int, workspace_id: uuid.UUID, owner_id: uuid.UUID
) -> float:
    """COPY with secondary indexes dropped and rebuilt after, as leads.py does."""
    conn = await asyncpg.connect(url)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND tablename = 'contacts' AND indexname <> 'pk_contacts'"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        started = time.perf_counter()
        await conn.execute("SET session_replication_role = replica")
        rows = contact_rows(count, workspace_id, owner_id)
        await conn.copy_records_to_table("contacts", records=rows, columns=COLUMNS)
        await conn.execute("RESET session_replication_role")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("VACUUM (ANALYZE) contacts")
        return time.perf_counter() - started
    finally:
        await conn.close()


def probes(count: int, size: int, many: int) -> list[dict[str, Any]]:
    """`many` check bodies: even ones a loaded contact typed another way, odd ones new people."""
    loaded = list(contact_rows(count, uuid.uuid4(), uuid.uuid4()))
    rng = random.Random(size)
    bodies = []
    for i in range(many):
        if i % 2 == 0:
            row = rng.choice(loaded)
            name = row[2].translate(bench._ASCII) if i % 4 == 0 else " ".join(row[2].split()[::-1])
            record = {"full_name": name, "phone": row[7], "email": row[5].upper()}
        else:
            p = _person(rng, i, NEW_PREFIX)
            record = {"full_name": p["full_name"], "phone": p["phone"], "email": p["email"]}
        bodies.append({"resource": "contact", "record": record})
    return bodies


async def candidate_sql(
    url: str, workspace_id: uuid.UUID, bodies: list[dict[str, Any]]
) -> list[tuple[str, list[Any]]]:
    """The candidate statement Sen sends for each body, as the driver receives it."""
    from app.core.context import SYSTEM, Ctx
    from app.core.db import enter_workspace, make_engine, make_sessionmaker
    from app.core.driver import driver_arguments
    from app.duplicates import candidates, matching, service

    engine = make_engine(url)
    statements = []
    try:
        async with make_sessionmaker(engine)() as session:
            await enter_workspace(session, workspace_id)
            ctx = Ctx(session=session, actor=SYSTEM, workspace_id=workspace_id)
            contacts = service.DuplicateResource.contact
            rules = [r.criteria for r in await service.active_rules(ctx, contacts)]
            dialect = session.get_bind().dialect
            for body in bodies:
                probe = matching.comparable(body["record"].get, organisation=False)
                lookups = candidates.lookups_for(rules, probe)
                built = candidates.candidate_statement(ctx, contacts, probe, lookups)
                if built is not None:
                    statements.append(driver_arguments(built[0], dialect, built[1]))
    finally:
        await engine.dispose()
    return statements


async def postgres_itself(
    url: str, workspace_id: uuid.UUID, bodies: list[dict[str, Any]], seconds: float
) -> dict[str, Any]:
    """The candidate statements straight on asyncpg (role sen_app, RLS on), one client."""
    statements = await candidate_sql(url, workspace_id, bodies[:200])
    conn = await asyncpg.connect(url)
    try:
        setting = (
            "SELECT set_config('role', 'sen_app', false),"
            f" set_config('sen.workspace_id', '{workspace_id}', false),"
            " set_config('pg_trgm.similarity_threshold', '0.55', false)"
        )
        await conn.execute(setting)
        latencies, deadline, n = [], time.perf_counter() + seconds, 0
        while time.perf_counter() < deadline:
            sql, args = statements[n % len(statements)]
            started = time.perf_counter()
            await conn.fetch(sql, *args)
            latencies.append((time.perf_counter() - started) * 1000)
            n += 1
    finally:
        await conn.close()
    return {
        "case": "postgres-candidates",
        "rps": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(sorted(latencies), 0.95),
    }


async def set_rules(url: str, workspace_id: uuid.UUID, *, active: bool) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "UPDATE duplicate_rules SET active = $2 WHERE workspace_id = $1", workspace_id, active
        )
    finally:
        await conn.close()


def new_contacts(path: Path, count: int, salt: int) -> Path:
    rng = random.Random(salt)
    lines = []
    for i in range(count):
        p = _person(rng, 5_000_000 + salt * 200_000 + i, NEW_PREFIX)
        lines.append(
            json.dumps({k: p[k] for k in ("full_name", "email", "phone")}, ensure_ascii=False)
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("/tmp/sen-bench/duplicates"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    base = os.environ.get("DATABASE_URL", bench.DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("SEN_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    cpus = (0, 1) if (os.cpu_count() or 1) >= 2 else (None, None)

    async def prepare() -> tuple[str, uuid.UUID, float]:
        url = await bench.recreate_database(base, DATABASE)
        await upgrade(url)
        workspace_id, owner_id = await bench.create_owner(url)
        return url, workspace_id, await load_contacts(url, args.contacts, workspace_id, owner_id)

    url, workspace_id, load_seconds = asyncio.run(prepare())
    print(f"loaded {args.contacts:,} contacts in {load_seconds:.0f} s", file=sys.stderr)
    check_bodies = probes(args.contacts, args.contacts, 2000)
    check_file = args.out / "checks.jsonl"
    check_file.write_text("\n".join(json.dumps(b, ensure_ascii=False) for b in check_bodies) + "\n")

    data = bench.Dataset(url, args.contacts, workspace_id, uuid.uuid4(), load_seconds, 0)
    sen = bench.start_server(
        "sen", "sen_app.py", bench.sen_env(data, redis_url, args.out, secrets.token_hex(32)),
        cpus[0], args.out,
    )  # fmt: skip
    results: dict[str, Any] = {}
    try:
        auth = bench.owner_authorization(sen)
        sample = httpx.post(
            sen.url(CHECK_PATH), json=check_bodies[0], headers={"Authorization": auth}
        )
        sample.raise_for_status()
        assert sample.json()["duplicates"], "a variant of a loaded contact must be found"
        headers = [f"Authorization: {auth}", "Content-Type: application/json"]
        for clients in (1, args.concurrency):
            run = argparse.Namespace(**{**vars(args), "concurrency": clients})
            case = bench.Case(f"sen-check-c{clients}", sen, "POST", CHECK_PATH, headers, check_file)
            results[case.name] = bench.run_load(case, run, cpus[1])
        results["postgres"] = asyncio.run(
            postgres_itself(url, workspace_id, check_bodies, args.duration)
        )
        creates: dict[str, list[float]] = {"rules-on": [], "rules-off": []}
        for n in range(args.rounds):
            for label, active in (("rules-on", True), ("rules-off", False)):
                asyncio.run(set_rules(url, workspace_id, active=active))
                bodies = new_contacts(
                    args.out / f"create-{label}-{n}.jsonl", 20_000, n * 2 + active
                )
                case = bench.Case(f"create-{label}", sen, "POST", CREATE_PATH, headers, bodies)
                result = bench.run_load(case, args, cpus[1])
                if set(result["statuses"]) - {"201"}:
                    raise RuntimeError(f"{label}: answers other than 201: {result['statuses']}")
                creates[label].append(result["rps"])
        results["creates"] = creates
    finally:
        sen.stop()
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    report(results, args)


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    one, pg = results["sen-check-c1"], results["postgres"]
    many = results[f"sen-check-c{args.concurrency}"]
    on = statistics.median(results["creates"]["rules-on"])
    off = statistics.median(results["creates"]["rules-off"])
    print(f"\n{args.contacts:,} contacts; probes: half known people typed otherwise, half new\n")
    print("| case | req/s | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|")
    rows = (
        ("sen check, 1 client", one),
        (f"sen check, {args.concurrency} clients", many),
        ("PostgreSQL: the candidate statement alone, 1 client", pg),
    )
    for name, row in rows:
        rate, p50, p95 = row["rps"], row["p50_ms"], row["p95_ms"]
        print(f"| {name} | {rate:.0f} | {p50:.1f} | {p95:.1f} |")
    ratio = one["p95_ms"] / pg["p95_ms"]
    print(
        f"\ncheck p95 at 1 client: {one['p95_ms']:.1f} ms (target < {TARGET_P95_MS:.0f} ms); "
        f"{ratio:.1f}× PostgreSQL's own"
    )
    print(
        f"create with the default rules: {on:.0f} req/s; without: {off:.0f} req/s; ratio "
        f"{on / off:.2f}× (target ≥ {TARGET_CREATE_RATIO}×), median of {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
