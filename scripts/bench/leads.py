"""Lead create and lead list: Sen against a bare FastAPI + asyncpg ceiling, in the same run.

For each size N it (re)creates the database `sen_bench` on DATABASE_URL's server (default
postgresql://postgres@127.0.0.1:5432/), runs Sen's migrations, creates a workspace and its
owner with Sen's own service, loads N leads of Vietnamese-looking data with COPY and ANALYZEs.
Then it starts Sen (`app.main:create_app`, uvicorn, one worker; REDIS_URL or
redis://127.0.0.1:6379/15) and `bare_app.py` pinned to one core, drives each with
`loadgen.py` pinned to the other core (32 keep-alive connections by default), and prints:

- requests/s, p50 and p99 for sen-list, bare-list, sen-create, bare-create, and the ratios;
- unruled-create: Sen's create with the workspace's duplicate rules switched off for that case,
  and "rules on/off", sen-create against it (issue 11's target: at least 0.7×);
- list figures per size (the list page must cost the same at 10,000 leads as at 1,000,000);
- EXPLAIN (ANALYZE, BUFFERS) of the list query at each size, as Sen runs it (role sen_app,
  row-level security on) and as the bare app runs it.

Run from the repository root:

    .venv/bin/python scripts/bench/leads.py --leads 10000 --duration 5
    .venv/bin/python scripts/bench/leads.py --leads 1000000 --duration 20 --concurrency 32
    .venv/bin/python scripts/bench/leads.py --sizes 10000,1000000 --duration 20 --profile

`--profile` adds one more sen-list pass under `py-spy record` (needs ptrace: root or
CAP_SYS_PTRACE) and prints where Sen's process spends its CPU; that pass is not in the table.
Raw results (JSON, server logs, profiles) go to --out (default /tmp/sen-bench). Nothing needs
root except --profile. The database `sen_bench` is dropped and recreated: never point this at
a server whose `sen_bench` database you want to keep.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.db import make_engine, make_sessionmaker, with_database  # noqa: E402
from app.core.match_keys import company_key, email_key, name_key, person_keys  # noqa: E402
from app.core.phones import to_e164  # noqa: E402
from app.core.search import search_text  # noqa: E402
from app.core.workspace_settings import SETTINGS_VERSIONS  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
# SEN_BENCH_DATABASE: another name, so two benchmarks can share a server without clashing.
BENCH_DATABASE = os.environ.get("SEN_BENCH_DATABASE", "sen_bench")
OWNER_EMAIL = "chu.so.huu@bench.sen.vn"
OWNER_PASSWORD = "mat-khau-bench-2026"
LIST_PATH = "/leads?status=new&sort=-created_at&limit=50"
CASES = (
    "sen-list", "floor-list", "bare-list", "sen-create", "floor-create", "bare-create"
)  # fmt: skip

# ----------------------------------------------------------------------------- fake data

FAMILY = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trương", "Lâm", "Mai",
]  # fmt: skip
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Gia", "Hoài", "Kim", "Xuân"]
GIVEN = [
    "Anh", "Bình", "Châu", "Dũng", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng", "Hương", "Khánh",
    "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Ngân", "Nhung", "Phong", "Phúc", "Phương",
    "Quân", "Quang", "Sơn", "Tâm", "Thảo", "Thắng", "Thủy", "Trang", "Trung", "Tuấn", "Tú",
    "Vân", "Việt", "Yến", "Đạt", "Ánh", "Khoa",
]  # fmt: skip
COMPANY_KIND = ["Công ty TNHH", "Công ty CP", "Doanh nghiệp tư nhân", "Tập đoàn", "Hộ kinh doanh"]
COMPANY_NAME = [
    "Minh Phát", "Hòa Bình", "Thành Công", "Đại Việt", "An Khang", "Phú Thịnh", "Sao Mai",
    "Hưng Thịnh", "Tân Á", "Việt Tiến", "Bảo Long", "Hải Đăng", "Trường Sơn", "Kim Ngân",
    "Đông Á", "Nam Long", "Phương Nam", "Thiên Phú", "Hoàng Gia", "Mê Kông",
]  # fmt: skip
TITLES = [
    "Giám đốc", "Phó giám đốc", "Trưởng phòng kinh doanh", "Kế toán trưởng",
    "Nhân viên mua hàng", "Chủ cửa hàng", "Trưởng phòng nhân sự", None, None,
]  # fmt: skip
MAIL_DOMAINS = ["gmail.com", "yahoo.com.vn", "outlook.com", "fpt.vn", "vnpt.vn", "viettel.vn"]
PHONE_PREFIXES = [
    "090", "091", "093", "094", "096", "097", "098", "086", "088", "089", "070", "076", "077",
    "078", "079", "081", "082", "083", "084", "085", "032", "033", "034", "035", "036", "037",
    "038", "039", "056", "058", "059",
]  # fmt: skip
# Every seeded status except `converted` (only conversion gives that), roughly as a pipeline.
STATUS_WEIGHTS = {
    "raw": 10, "new": 25, "contacted": 20, "unreachable": 10, "wrong_target": 5, "potential": 12,
    "hot": 8, "disqualified": 10,
}  # fmt: skip
SOURCES = [
    "website", "form", "facebook", "google_ads", "tiktok", "zalo", "hotline", "referral",
    "event", "import", "other",
]  # fmt: skip
QUALIFICATIONS = ["none", "none", "none", "mql", "sql"]
INDUSTRIES = [
    "Ô tô", "Bất động sản", "Giáo dục", "Bán lẻ", "F&B", "Xây dựng", "Du lịch", "Tài chính",
    "Y tế", "Nội thất", None,
]  # fmt: skip
PROVINCES = [
    "Hà Nội", "TP Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Bình Dương", "Đồng Nai",
    "Khánh Hòa", "Quảng Ninh", "Nghệ An", "Thừa Thiên Huế", "Lâm Đồng",
]  # fmt: skip
TAGS = ["vip", "hội chợ 2026", "zalo-oa", "tái ký", "khách sỉ", "đại lý"]
CAMPAIGNS = ["tet-2026", "he-2026", "black-friday", "khai-truong", None]
NOTES = ["Quan tâm xe 7 chỗ", "Gọi lại sau 17h", "Cần báo giá sỉ", "Đã gửi catalogue", None, None]

COPY_COLUMNS = [
    "workspace_id", "id", "full_name", "company_name", "title", "email", "phone", "phone_e164",
    "status", "source", "qualification", "score", "industry", "province", "owner_id", "tags",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "custom_fields",
    "notes", "search_text", "name_key", "email_key", "company_key", "person_keys", "created_at",
    "updated_at", "deleted_at", "version",
]  # fmt: skip

_ASCII = str.maketrans(
    "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ",
    "aaaaaaaaaaaaaaaaaeeeeeeeeeeeiiiiiooooooooooooooooouuuuuuuuuuuyyyyyd",
)


def uuid7_at(moment: datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 whose timestamp is `moment` (Sen's ids are time-ordered UUIDv7 too)."""
    millis = int(moment.timestamp() * 1000)
    rand = rng.getrandbits(74)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62)
    return uuid.UUID(int=value | (rand & ((1 << 62) - 1)))


def _match_keys(person: dict[str, Any]) -> tuple[Any, ...]:
    """The duplicate rules' keys as Sen derives them (app/core/records.py): rows without them
    would be invisible to the rules' look-ups."""
    name, company = name_key(person["full_name"]), company_key(person["company_name"])
    return name, email_key(person["email"]), company, person_keys(name, company)


class LeadFaker:
    """Deterministic Vietnamese-looking leads: COPY rows, or POST bodies."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.statuses = list(STATUS_WEIGHTS)
        self.weights = list(STATUS_WEIGHTS.values())

    def _person(self) -> dict[str, Any]:
        rng = self.rng
        family, middle, given = rng.choice(FAMILY), rng.choice(MIDDLE), rng.choice(GIVEN)
        company = (
            f"{rng.choice(COMPANY_KIND)} {rng.choice(COMPANY_NAME)}" if rng.random() < 0.7 else None
        )
        local = f"{given}.{family}".lower().translate(_ASCII)
        email = f"{local}{rng.randrange(1, 10_000)}@{rng.choice(MAIL_DOMAINS)}"
        digits = f"{rng.choice(PHONE_PREFIXES)}{rng.randrange(10_000_000):07d}"
        source = rng.choice(SOURCES)
        paid = source in ("facebook", "google_ads", "tiktok")
        return {
            "full_name": f"{family} {middle} {given}",
            "company_name": company,
            "title": rng.choice(TITLES),
            "email": email if rng.random() < 0.8 else None,
            "phone": f"{digits[:4]} {digits[4:7]} {digits[7:]}",
            "status": rng.choices(self.statuses, self.weights)[0],
            "source": source,
            "qualification": rng.choice(QUALIFICATIONS),
            "score": rng.randrange(0, 101),
            "industry": rng.choice(INDUSTRIES),
            "province": rng.choice(PROVINCES),
            "tags": rng.sample(TAGS, rng.choice((0, 0, 1, 2))),
            "utm_source": source if paid else None,
            "utm_medium": "cpc" if paid else None,
            "utm_campaign": rng.choice(CAMPAIGNS) if paid else None,
            "utm_term": None,
            "utm_content": None,
            "notes": rng.choice(NOTES),
        }

    def body(self) -> dict[str, Any]:
        """A POST /leads body: status `new` like a fresh lead, the rest random."""
        return {**self._person(), "status": "new", "custom_fields": {}}

    def rows(
        self, count: int, workspace_id: uuid.UUID, owner_id: uuid.UUID, end: datetime
    ) -> Iterator[tuple[Any, ...]]:
        """`count` COPY rows, created_at ascending over the two years before `end`."""
        start = end - timedelta(days=730)
        step = (end - start) / max(count, 1)
        for i in range(count):
            p = self._person()
            created = start + step * i
            updated = created + timedelta(hours=self.rng.random() * 48)
            e164 = "+84" + p["phone"].replace(" ", "")[1:]
            yield (
                workspace_id, uuid7_at(created, self.rng), p["full_name"], p["company_name"],
                p["title"], p["email"], p["phone"], e164, p["status"], p["source"],
                p["qualification"], p["score"], p["industry"], p["province"], owner_id,
                p["tags"], p["utm_source"], p["utm_medium"], p["utm_campaign"], p["utm_term"],
                p["utm_content"], "{}", p["notes"],
                search_text(p["full_name"], p["company_name"], p["email"], p["phone"], e164),
                *_match_keys(p),
                created, updated, None, 1,
            )  # fmt: skip


# ----------------------------------------------------------------------------- database


@dataclass
class Dataset:
    url: str
    size: int
    workspace_id: uuid.UUID
    owner_id: uuid.UUID
    load_seconds: float
    index_seconds: float


async def recreate_database(base_url: str, name: str = BENCH_DATABASE) -> str:
    admin = await asyncpg.connect(with_database(base_url, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return with_database(base_url, name)


async def create_owner(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    from app.workspaces.service import create_workspace

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            workspace, owner = await create_workspace(
                session,
                name="Công ty TNHH Bench Sen",
                owner_email=OWNER_EMAIL,
                owner_password=OWNER_PASSWORD,
                owner_name="Nguyễn Văn Chủ",
            )
            await session.commit()
    finally:
        await engine.dispose()
    return workspace.id, owner.id


async def load_leads(
    url: str, count: int, workspace_id: uuid.UUID, owner_id: uuid.UUID
) -> tuple[float, float]:
    """COPY `count` leads the way pg_restore would: secondary indexes and FK triggers off during
    the copy (the rows are valid by construction), indexes rebuilt after, then ANALYZE.
    Runs as the connecting superuser, which row-level security does not bind."""
    faker = LeadFaker(seed=count)
    sample = next(faker.rows(1, workspace_id, owner_id, datetime.now(UTC)))
    assert sample[7] == to_e164(sample[6]), "the fake phone's E.164 must match Sen's"
    conn = await asyncpg.connect(url)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = 'leads' AND indexname <> 'pk_leads'"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        started = time.perf_counter()
        await conn.execute("SET session_replication_role = replica")
        rows = faker.rows(count, workspace_id, owner_id, datetime.now(UTC) - timedelta(hours=1))
        await conn.copy_records_to_table("leads", records=rows, columns=COPY_COLUMNS)
        await conn.execute("RESET session_replication_role")
        loaded = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("VACUUM (ANALYZE) leads")
        return loaded - started, time.perf_counter() - loaded
    finally:
        await conn.close()


async def prepare(base_url: str, size: int) -> Dataset:
    from app.core.migrate import upgrade

    url = await recreate_database(base_url)
    await upgrade(url)
    workspace_id, owner_id = await create_owner(url)
    load_seconds, index_seconds = await load_leads(url, size, workspace_id, owner_id)
    return Dataset(url, size, workspace_id, owner_id, load_seconds, index_seconds)


async def sen_list_sql(data: Dataset) -> tuple[str, list[Any]]:
    """The SQL and parameters of GET /api/v1/leads?status=new&sort=-created_at&limit=50 for the
    owner: the resource layer's list_page runs it on a real session, and the statement is taken
    as the driver receives it (app.core.sql's driver_arguments), so the plan is Sen's own."""
    from app.core import records, sql
    from app.core.context import Actor, Ctx, Role
    from app.core.db import make_engine, make_sessionmaker, workspace_session
    from app.leads.schemas import LeadQuery
    from app.leads.service import LEADS

    engine = make_engine(data.url, poolclass=NullPool)
    seen: list[tuple[str, Any]] = []
    to_driver = sql.driver_arguments

    def capture(*args: Any) -> tuple[str, list[Any]]:
        statement, params = to_driver(*args)
        seen.append((statement, params))
        return statement, params

    sql.driver_arguments = capture
    try:
        async with workspace_session(make_sessionmaker(engine), data.workspace_id) as session:
            ctx = Ctx(
                session=session,
                actor=Actor(user_id=data.owner_id, role=Role.owner),
                workspace_id=data.workspace_id,
            )
            query = LeadQuery(status=["new"], sort="-created_at", limit=50)
            await records.list_page(ctx, LEADS, query)
    finally:
        sql.driver_arguments = to_driver
        await engine.dispose()
    statement, params = next((s, p) for s, p in seen if "FROM leads" in s)
    return statement, list(params)


def _literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def _explain_prepared(
    conn: asyncpg.Connection, name: str, sql: str, params: Sequence[Any], mode: str
) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) EXECUTE of a prepared statement, as asyncpg runs it, with the
    plan cache forced to `mode`; the second run (warm cache) is kept."""
    await conn.execute(f"PREPARE {name} AS {sql}")
    try:
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        arguments = ", ".join(_literal(p) for p in params)
        for _ in range(2):
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name}({arguments})")
        return [row[0] for row in rows]
    finally:
        await conn.execute(f"DEALLOCATE {name}")


SEN_GENERIC = "sen: generic plan (role sen_app, RLS)"


async def explain_list(data: Dataset) -> dict[str, list[str]]:
    """The list query's plans at this size: Sen's (as role sen_app under row-level security,
    custom and generic plan: a prepared statement switches to the generic one after five runs)
    and the bare app's."""
    from bare_app import LIST_SQL  # type: ignore[import-not-found]

    sen_sql, sen_params = await sen_list_sql(data)
    conn = await asyncpg.connect(data.url)
    plans: dict[str, list[str]] = {"_sen_sql": [sen_sql]}
    try:
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('role', 'sen_app', true), "
                "set_config('sen.workspace_id', $1, true)",
                str(data.workspace_id),
            )
            for mode in ("force_custom_plan", "force_generic_plan"):
                label = mode.split("_")[1]
                key = (
                    SEN_GENERIC if label == "generic" else f"sen: {label} plan (role sen_app, RLS)"
                )
                plans[key] = await _explain_prepared(conn, "sen_list", sen_sql, sen_params, mode)
        async with conn.transaction():
            bare_params = [str(data.workspace_id), "new", 51]
            plans["bare: generic plan (superuser)"] = await _explain_prepared(
                conn, "bare_list", LIST_SQL, bare_params, "force_generic_plan"
            )
    finally:
        await conn.close()
    return plans


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int | None) -> Any:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, script: str, env: dict[str, str], cpu: int | None, out: Path) -> Server:
    return start_process(name, [sys.executable, str(BENCH_DIR / script)], env, cpu, out)


def start_process(
    name: str,
    command: list[str],
    env: dict[str, str],
    cpu: int | None,
    out: Path,
    ready: Callable[[Server], bool] | None = None,
) -> Server:
    """Run `command` (its port in BENCH_PORT, or `{port}` in its arguments) and wait for its
    /healthz, or until `ready` says so (a process that serves no HTTP: the worker); its output
    goes to out/<name>.log."""
    port = free_port()
    log = out / f"{name}.log"
    process = subprocess.Popen(
        [arg.replace("{port}", str(port)) for arg in command],
        cwd=ROOT,
        env={
            **os.environ,
            **env,
            "BENCH_PORT": str(port),
            "PYTHONPATH": os.pathsep.join((str(ROOT), str(BENCH_DIR))),
        },
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=pinned(cpu),
    )
    server = Server(name, port, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
        try:
            if ready(server) if ready else _answers_healthz(server):
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} was not ready in 60 s:\n{log.read_text()[-3000:]}")


def _answers_healthz(server: Server) -> bool:
    return httpx.get(server.url("/healthz"), timeout=1).status_code == 200


@dataclass
class Case:
    name: str
    server: Server
    method: str
    path: str
    headers: list[str] = field(default_factory=list)
    bodies: Path | None = None
    record: Path | None = None  # loadgen's --record: each 2xx answer's send time and body


def run_load(case: Case, args: argparse.Namespace, cpu: int | None) -> dict[str, Any]:
    command = [
        sys.executable, str(BENCH_DIR / "loadgen.py"), "--port", str(case.server.port),
        "--method", case.method, "--path", case.path,
        "--concurrency", str(args.concurrency), "--duration", str(args.duration),
        "--warmup", str(args.warmup),
    ]  # fmt: skip
    for header in case.headers:
        command += ["--header", header]
    if case.bodies:
        command += ["--bodies", str(case.bodies)]
    if case.record:
        command += ["--record", str(case.record)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed for {case.name}:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["case"] = case.name
    return result


def profile_sen(
    case: Case, args: argparse.Namespace, cpu: int | None, out: Path
) -> dict[str, Any] | None:
    """One more pass of `case` with py-spy recording Sen's process; returns the top frames."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: skipping --profile", file=sys.stderr)
        return None
    raw = out / f"{case.name}-{args.current_size}.pyspy.txt"
    seconds = int(args.warmup + args.duration)
    recorder = subprocess.Popen(
        [py_spy, "record", "--pid", str(case.server.process.pid), "--format", "raw",
         "--output", str(raw), "--duration", str(seconds), "--rate", "200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    load = run_load(case, args, cpu)
    _, err = recorder.communicate(timeout=seconds + 60)
    if recorder.returncode != 0 or not raw.exists():
        print(f"py-spy failed: {err.decode()[-1000:]}", file=sys.stderr)
        return None
    return {"load": load, **summarize_profile(raw)}


def _package(location: str) -> str:
    """`sqlalchemy/orm/loading.py:233` -> `sqlalchemy`; Sen's own code by module directory."""
    path = _short(location.rsplit(":", 1)[0])
    if path == "asyncio/runners.py":  # time inside loop.run: C code with no Python frame
        return "event loop (uvloop, httptools, asyncpg protocol: C code)"
    parts = path.split("/")
    if parts[0] in ("app", "workers") and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py")


# A thread parked on a lock or a queue, not running: anyio's idle worker thread, and an
# executor's worker blocked in its queue's C-level get (its own frame is then the leaf).
IDLE_LEAVES = ("Condition.wait (", "Event.wait (", "Queue.get (", "_worker (concurrent/futures/")


def summarize_profile(raw: Path) -> dict[str, Any]:
    """py-spy raw output ("frame;frame;… count" lines) -> self time by function and package,
    inclusive time by function."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            continue  # a thread parked on a lock (anyio's idle worker thread): not CPU
        leaf = frames[-1]
        total += count
        name, _, where = leaf.partition(" (")
        location = where.rstrip(")")
        own[f"{name} ({_short(location)})"] += count
        packages[_package(location)] += count
        seen = set()
        for frame in frames:
            fname, _, fwhere = frame.partition(" (")
            key = f"{fname} ({_short(fwhere.rstrip(')').rsplit(':', 1)[0])})"
            if key not in seen:
                seen.add(key)
                inclusive[key] += count

    def top(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(k, 100.0 * v / total) for k, v in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "self": top(own, 20),
        "packages": top(packages, 15),
        "inclusive": top(inclusive, 30),
        "app_inclusive": top(Counter({k: v for k, v in inclusive.items() if "(app/" in k}), 20),
        "raw": str(raw),
    }


def _short(location: str) -> str:
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3"):
        if marker in location:
            return location.split(marker, 1)[1]
    return location


# ----------------------------------------------------------------------------- one size


async def rules_active(data: Dataset, *, active: bool) -> None:
    """Switch the workspace's duplicate rules on or off, and bump its settings version as
    Sen's rule service does (`settings_changed`), so Sen drops its cached copy of them."""
    conn = await asyncpg.connect(data.url)
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE duplicate_rules SET active = $2 WHERE workspace_id = $1",
                data.workspace_id,
                active,
            )
            await conn.execute(
                "UPDATE workspaces SET settings_version = nextval($2) WHERE id = $1",
                data.workspace_id,
                SETTINGS_VERSIONS,
            )
    finally:
        await conn.close()


# More bodies than the fastest create sends in a run (~1,900/s × warm-up and duration), so
# none is posted twice.
NEW_PEOPLE = 40_000


def with_new_people(case: Case, out: Path, seed: int) -> Case:
    """`case` posting people no earlier run posted. Sending the same file again made each
    body a copy of the last run's, so every round found more exact duplicates of each
    probe than the one before (Sen's creates fell from 195/s to 97/s over three rounds)."""
    if case.bodies is None:
        return case
    path = out / f"bodies-{case.name}.jsonl"
    return replace(case, bodies=write_bodies(path, NEW_PEOPLE, seed=1_000_000 + seed))


@contextlib.contextmanager
def rules_as_the_case_needs(data: Dataset, case: str) -> Iterator[None]:
    """The duplicate rules off while the unruled case runs, on again after it."""
    if case != "unruled-create":
        yield
        return
    asyncio.run(rules_active(data, active=False))
    try:
        yield
    finally:
        asyncio.run(rules_active(data, active=True))


def write_bodies(path: Path, count: int, seed: int = 7) -> Path:
    faker = LeadFaker(seed=seed)
    lines = (json.dumps(faker.body(), ensure_ascii=False) for _ in range(count))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sen_env(data: Dataset, redis_url: str, out: Path, secret: str) -> dict[str, str]:
    """The environment `sen_app.py` runs Sen in, on the benchmark's database and Redis."""
    return {
        "BENCH_DATABASE_URL": data.url,
        "BENCH_REDIS_URL": redis_url,
        "SEN_SECRET_KEY": secret,
        "SEN_DATA_DIR": str(out / "sen-data"),
        "SEN_LOG_LEVEL": "WARNING",
    }


def owner_authorization(sen: Server) -> str:
    """`Bearer …`: the benchmark workspace's owner, signed in to Sen."""
    token = httpx.post(
        sen.url("/api/v1/auth/token"),
        data={"username": OWNER_EMAIL, "password": OWNER_PASSWORD},
    )
    token.raise_for_status()
    return f"Bearer {token.json()['access_token']}"


def sanity_check(sen: Server, bare: Server, auth: str) -> None:
    """Both lists answer the same page before anything is timed."""
    sen_page = httpx.get(sen.url("/api/v1" + LIST_PATH), headers={"Authorization": auth})
    bare_page = httpx.get(bare.url(LIST_PATH))
    sen_page.raise_for_status()
    bare_page.raise_for_status()
    sen_ids = [row["id"] for row in sen_page.json()["data"]]
    bare_ids = [row["id"] for row in bare_page.json()["data"]]
    if sen_ids != bare_ids:
        raise RuntimeError("Sen and the bare app list different leads: not the same query")


def run_size(
    size: int, args: argparse.Namespace, out: Path, cpus: tuple[int | None, int | None]
) -> dict[str, Any]:
    server_cpu, client_cpu = cpus
    args.current_size = size
    print(f"== {size:,} leads: preparing {BENCH_DATABASE}", file=sys.stderr)
    data = asyncio.run(prepare(args.database_url, size))
    print(
        f"   COPY {data.load_seconds:.1f} s, indexes + VACUUM ANALYZE {data.index_seconds:.1f} s",
        file=sys.stderr,
    )
    plans = asyncio.run(explain_list(data))
    secret = secrets.token_urlsafe(32)
    bare_env = {
        "BENCH_DATABASE_URL": data.url,
        "BENCH_WORKSPACE_ID": str(data.workspace_id),
        "BENCH_OWNER_ID": str(data.owner_id),
    }
    sen = start_server(
        "sen", "sen_app.py", sen_env(data, args.redis_url, out, secret), server_cpu, out
    )
    bare: Server | None = None
    floor: Server | None = None
    try:
        bare = start_server("bare", "bare_app.py", bare_env, server_cpu, out)
        if args.floor:
            floor_env = {**bare_env, "BENCH_FLOOR_SECRET": secret}
            floor = start_server("floor", "bare_app.py", floor_env, server_cpu, out)
        auth = owner_authorization(sen)
        sanity_check(sen, bare, auth)
        bodies = write_bodies(out / "bodies.jsonl", 2000)
        header = [f"Authorization: {auth}"]
        cases = {
            "sen-list": Case("sen-list", sen, "GET", "/api/v1" + LIST_PATH, header),
            "bare-list": Case("bare-list", bare, "GET", LIST_PATH),
            # The bodies' names come from a small pool, so nearly every one is a possible
            # duplicate of a stored lead: "save anyway", as the user would. The rules' look-up
            # still runs; only a `block` rule (same email or phone) refuses.
            "sen-create": Case(
                "sen-create", sen, "POST", "/api/v1/leads?allow_duplicates=true", header, bodies
            ),
            "bare-create": Case("bare-create", bare, "POST", "/leads", [], bodies),
            # The same create with the workspace's duplicate rules switched off for the case
            # (`rules_active`): what the rules cost, measured in the same run.
            "unruled-create": Case(
                "unruled-create",
                sen,
                "POST",
                "/api/v1/leads?allow_duplicates=true",
                header,
                bodies,
            ),
        }
        if floor is not None:
            cases["floor-list"] = Case("floor-list", floor, "GET", LIST_PATH, header)
            cases["floor-create"] = Case("floor-create", floor, "POST", "/leads", header, bodies)
        # Rounds alternate bare and Sen, so a noisy spell on this shared machine hits both;
        # each case reports its median round, and each ratio is the median of the rounds'.
        rounds: dict[str, list[dict[str, Any]]] = {}
        for number in range(1, args.rounds + 1):
            for order, name in enumerate(("bare-list", "floor-list", "sen-list", *CREATES)):
                if (name.endswith("create") and args.list_only) or name not in cases:
                    continue
                print(
                    f"   round {number}/{args.rounds} {name}: {args.duration:g} s at "
                    f"{args.concurrency} conns",
                    file=sys.stderr,
                )
                case = with_new_people(cases[name], out, seed=number * 100 + order)
                with rules_as_the_case_needs(data, name):
                    rounds.setdefault(name, []).append(run_load(case, args, client_cpu))
        results = {name: _median_round(runs) for name, runs in rounds.items()}
        ratios = _ratios(rounds)
        profile = None
        if args.profile:
            print(f"   {args.profile_case} under py-spy", file=sys.stderr)
            case = with_new_people(cases[args.profile_case], out, seed=99)
            with rules_as_the_case_needs(data, args.profile_case):
                profile = profile_sen(case, args, client_cpu, out)
    finally:
        sen.stop()
        for server in (bare, floor):
            if server is not None:
                server.stop()
    return {
        "size": size,
        "load_seconds": data.load_seconds,
        "index_seconds": data.index_seconds,
        "results": results,
        "rounds": rounds,
        "ratios": ratios,
        "plans": plans,
        "profile": profile,
        "sen_log_errors": _log_errors(sen.log),
    }


def _median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput, its latencies the medians of all rounds'."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    median = dict(ordered[len(ordered) // 2])
    for key in ("p50_ms", "p99_ms"):
        median[key] = statistics.median(r[key] for r in runs)
    median["rps_by_round"] = [r["rps"] for r in runs]
    return median


CREATES = ("bare-create", "floor-create", "sen-create", "unruled-create")
# (label, numerator, denominator): Sen against the ceiling; with --floor, the floor against the
# ceiling and Sen against its floor.
RATIOS = (
    ("sen/bare", "sen", "bare"),
    ("floor/bare", "floor", "bare"),
    ("sen/floor", "sen", "floor"),
    ("rules on/off", "sen", "unruled"),
)


def _ratios(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per operation, the median over rounds of Sen/bare (and with --floor, floor/bare and
    Sen/floor) throughput, p50 and p99."""
    ratios: dict[str, dict[str, float]] = {}
    for op in ("list", "create"):
        for label, top, bottom in RATIOS:
            measured = _ratio(rounds.get(f"{top}-{op}"), rounds.get(f"{bottom}-{op}"))
            if measured:
                key = op if label == "sen/bare" else f"{op}: {label}"
                ratios[key] = measured
    return ratios


def _ratio(
    top: list[dict[str, Any]] | None, bottom: list[dict[str, Any]] | None
) -> dict[str, float] | None:
    if not (top and bottom):
        return None
    pairs = list(zip(top, bottom, strict=True))
    return {
        "throughput": statistics.median(s["rps"] / b["rps"] for s, b in pairs),
        "p50": statistics.median(s["p50_ms"] / b["p50_ms"] for s, b in pairs),
        "p99": statistics.median(s["p99_ms"] / b["p99_ms"] for s, b in pairs),
    }


def _log_errors(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    return [line for line in lines if "error" in line.lower() or "Traceback" in line][:20]


# ----------------------------------------------------------------------------- report


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def report(runs: Sequence[dict[str, Any]], args: argparse.Namespace, cpus: Any) -> str:
    lines: list[str] = []
    server_cpu, client_cpu = cpus
    lines.append(
        f"Concurrency {args.concurrency} keep-alive connections, {args.duration:g} s per case "
        f"after {args.warmup:g} s warm-up, {args.rounds} round(s), medians; servers on CPU "
        f"{server_cpu}, client on CPU {client_cpu}, PostgreSQL unpinned; {os.cpu_count()} CPUs."
    )
    for run in runs:
        res = run["results"]
        lines += ["", f"### {run['size']:,} leads", ""]
        lines.append(
            f"Loaded with COPY in {run['load_seconds']:.1f} s; indexes rebuilt + VACUUM ANALYZE "
            f"in {run['index_seconds']:.1f} s."
        )
        lines += [
            "",
            "| case | requests/s | p50 ms | p99 ms | non-2xx |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in CASES:
            if name not in res:
                continue
            r = res[name]
            bad = r["requests"] - r["ok"] + r["connection_failures"]
            lines.append(
                f"| {name} | {_fmt(r['rps'])} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} "
                f"| {bad} |"
            )
        for op, ratio in run["ratios"].items():
            lines.append(
                f"| **{op if ':' in op else op + ': sen/bare'}** "
                f"| {ratio['throughput']:.2f}× throughput "
                f"| {ratio['p50']:.2f}× p50 | {ratio['p99']:.2f}× p99 | |"
            )
        if args.rounds > 1:
            lines += [
                "",
                f"Requests/s by round ({args.rounds} rounds, bare and Sen alternating):",
                "",
            ]
            for name in CASES:
                if name in res:
                    by_round = ", ".join(_fmt(v) for v in res[name]["rps_by_round"])
                    lines.append(f"- {name}: {by_round}")
    if len(runs) > 1:
        lines += ["", "### List page by table size", ""]
        lines += [
            "| leads | sen-list req/s | sen p50 | sen p99 | bare-list req/s | bare p50 | bare p99 "
            "| sen plan ms | sen plan buffers |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for run in runs:
            s, b = run["results"].get("sen-list"), run["results"].get("bare-list")
            if not (s and b):
                continue
            plan = run["plans"][SEN_GENERIC]
            exec_ms = next((p.split(":")[1].strip() for p in plan if "Execution Time" in p), "?")
            buffers = next((p.strip() for p in plan if "Buffers:" in p), "?")
            lines.append(
                f"| {run['size']:,} | {_fmt(s['rps'])} | {_fmt(s['p50_ms'], 2)} "
                f"| {_fmt(s['p99_ms'], 2)} | {_fmt(b['rps'])} | {_fmt(b['p50_ms'], 2)} "
                f"| {_fmt(b['p99_ms'], 2)} | {exec_ms} | {buffers} |"
            )
    for run in runs:
        lines += ["", f"### EXPLAIN (ANALYZE, BUFFERS) of the list query, {run['size']:,} leads"]
        lines += ["", "Sen's SQL (built by app.leads.service.list_leads, as asyncpg gets it):"]
        lines += ["", "```sql"]
        lines += run["plans"]["_sen_sql"]
        lines += ["```"]
        for who, plan in run["plans"].items():
            if who.startswith("_"):
                continue
            lines += ["", f"{who}:", "", "```", *plan, "```"]
    for run in runs:
        prof = run.get("profile")
        if not prof:
            continue
        load = prof["load"]
        lines += [
            "",
            f"### py-spy on Sen during sen-list, {run['size']:,} leads "
            f"({prof['samples']} samples; {_fmt(load['rps'])} req/s while profiled)",
            "",
            "CPU by package (self time):",
            "",
        ]
        lines += [f"- {pct:5.1f}%  {name}" for name, pct in prof["packages"]]
        lines += ["", "Top self-time frames:", ""]
        lines += [f"- {pct:5.1f}%  {name}" for name, pct in prof["self"]]
        lines += ["", "Top inclusive frames:", ""]
        lines += [f"- {pct:5.1f}%  {name}" for name, pct in prof["inclusive"]]
        lines += ["", "Sen's own functions (app/, inclusive):", ""]
        lines += [f"- {pct:5.1f}%  {name}" for name, pct in prof["app_inclusive"]]
        lines += ["", f"Raw stacks: {prof['raw']}"]
    for run in runs:
        if run["sen_log_errors"]:
            lines += ["", f"Errors in Sen's log ({run['size']:,} leads):", "", "```"]
            lines += run["sen_log_errors"]
            lines += ["```"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Sen vs bare FastAPI + asyncpg: lead create and list.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--leads", type=int, default=1_000_000, help="Leads in the workspace")
    parser.add_argument("--sizes", help="Comma-separated sizes run one after the other")
    parser.add_argument("--duration", type=float, default=20.0, help="Seconds measured per case")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds before measuring")
    parser.add_argument(
        "--rounds", type=int, default=3, help="Rounds of every case, bare and Sen alternating"
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--list-only", action="store_true", help="Skip the create cases")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="Also run the floor: the bare app doing what Sen must (token, wall, history)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy Sen during one more case")
    parser.add_argument(
        "--profile-case", default="sen-list", choices=["sen-list", "sen-create", "unruled-create"],
        help="Which case --profile records",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("/tmp/sen-bench"))
    parser.add_argument("--keep-database", action="store_true", help="Leave sen_bench behind")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.leads]
    args.database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    args.redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    return args


def pick_cpus() -> tuple[int | None, int | None]:
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


async def drop_database(base_url: str, name: str = BENCH_DATABASE) -> None:
    admin = await asyncpg.connect(with_database(base_url, "postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(BENCH_DIR))
    cpus = pick_cpus()
    runs = []
    for size in args.sizes:
        runs.append(run_size(size, args, args.out, cpus))
    if not args.keep_database:
        asyncio.run(drop_database(args.database_url))
    (args.out / "results.json").write_text(json.dumps(runs, indent=2, default=str))
    print(report(runs, args, cpus))
    refused = refusals(runs)
    if refused:
        # From step 6 until this check, every Sen create here was a 409: figures of refusals.
        sys.exit("Not a measurement of what it says: " + "; ".join(refused))


def refusals(runs: Sequence[dict[str, Any]]) -> list[str]:
    """The cases where more than 1 % of the answers were not 2xx, with their status codes."""
    found = []
    for run in runs:
        for name, rounds in run["rounds"].items():
            for r in rounds:
                bad = r["requests"] - r["ok"] + r["connection_failures"]
                if bad > 0.01 * max(r["requests"], 1):
                    found.append(
                        f"{run['size']:,} leads, {name}: {bad} of {r['requests']} ({r['statuses']})"
                    )
    return found


if __name__ == "__main__":
    main()
