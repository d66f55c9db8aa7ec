"""Every sort every list accepts, alone and with a text search (long, rare and one- or
two-letter words), `status_category` and `include_deleted`, as an admin and as a sales user,
and the all-records search, are served by indexes: each real statement (as the API sends it)
is EXPLAINed on 40,000 realistic rows a table with fresh statistics, where the planner picks
what it would pick in use. No sequential scan of a listed table; a sort only over rows an
index condition has already bounded."""

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import sql
from app.core.driver import driver_connection
from tests.conftest import World, seed_as_owner

ROWS = 40_000
LISTS = {
    "/api/v1/leads": "leads",
    "/api/v1/accounts": "accounts",
    "/api/v1/contacts": "contacts",
    "/api/v1/deals": "deals",
    "/api/v1/activities": "activities",
    "/api/v1/campaigns": "campaigns",
}
FILL = {
    "leads": """
        INSERT INTO leads (workspace_id, id, full_name, company_name, email, phone, phone_e164,
            status, source, qualification, score, owner_id, tags, custom_fields, search_text,
            created_at, updated_at, version, deleted_at)
        SELECT :w, gen_random_uuid(), {name} || ' ' || n, 'Công ty TNHH Minh Phát ' || n % 900,
            'khach' || n || '@minhphat.vn', '0912 ' || n, '+84912' || n,
            (ARRAY['new', 'contacted', 'potential', 'hot', 'disqualified'])[n % 5 + 1],
            'other', 'none', n % 101, (CAST(:owners AS uuid[]))[n % 3 + 1], '{}', '{}',
            lower({name}) || ' ' || n || ' | cong ty tnhh minh phat ' || n % 900
                || ' | khach' || n || '@minhphat.vn | 0912 ' || n || ' | +84912' || n,
            now() - n * interval '1 minute', now() - (n % 977) * interval '1 minute', 1,
            CASE WHEN n % 20 = 0 THEN now() END
        FROM generate_series(1, :rows) AS n""",
    "accounts": """
        INSERT INTO accounts (workspace_id, id, name, type, owner_id, tags, custom_fields,
            search_text, created_at, updated_at, version, deleted_at)
        SELECT :w, gen_random_uuid(), 'Công ty ' || {name} || ' ' || n, 'prospect',
            (CAST(:owners AS uuid[]))[n % 3 + 1], '{}', '{}',
            'cong ty ' || lower({name}) || ' ' || n,
            now() - n * interval '1 minute', now() - (n % 977) * interval '1 minute', 1,
            CASE WHEN n % 20 = 0 THEN now() END
        FROM generate_series(1, :rows) AS n""",
    "contacts": """
        INSERT INTO contacts (workspace_id, id, full_name, email, phone, phone_e164,
            do_not_contact, owner_id, tags, custom_fields, search_text, created_at,
            updated_at, version, deleted_at)
        SELECT :w, gen_random_uuid(), {name} || ' ' || n, 'lienhe' || n || '@khach.vn',
            '0903 ' || n, '+84903' || n, false, (CAST(:owners AS uuid[]))[n % 3 + 1], '{}',
            '{}', lower({name}) || ' ' || n || ' | lienhe' || n || '@khach.vn | 0903 ' || n
                || ' | +84903' || n,
            now() - n * interval '1 minute', now() - (n % 977) * interval '1 minute', 1,
            CASE WHEN n % 20 = 0 THEN now() END
        FROM generate_series(1, :rows) AS n""",
    "deals": """
        INSERT INTO deals (workspace_id, id, name, pipeline_id, stage_id, currency, probability,
            status, owner_id, tags, custom_fields, search_text, created_at, updated_at, version,
            deleted_at)
        SELECT :w, gen_random_uuid(), 'Xe cho ' || {name} || ' ' || n, s.pipeline_id, s.id,
            'VND', 10, 'open', (CAST(:owners AS uuid[]))[n % 3 + 1], '{}', '{}',
            'xe cho ' || lower({name}) || ' ' || n, now() - n * interval '1 minute',
            now() - (n % 977) * interval '1 minute', 1, CASE WHEN n % 20 = 0 THEN now() END
        FROM generate_series(1, :rows) AS n,
            (SELECT pipeline_id, id FROM pipeline_stages WHERE workspace_id = :w
             AND kind = 'open' LIMIT 1) AS s""",
    "activities": """
        INSERT INTO activities (workspace_id, id, type, subject, completed, participants,
            related_type, related_id, owner_id, created_at, updated_at, version, deleted_at)
        SELECT :w, gen_random_uuid(), 'call', 'Gọi ' || n, false, '{}', 'lead',
            gen_random_uuid(), (CAST(:owners AS uuid[]))[n % 3 + 1],
            now() - n * interval '1 minute',
            now() - (n % 977) * interval '1 minute', 1, CASE WHEN n % 20 = 0 THEN now() END
        FROM generate_series(1, :rows) AS n""",
    "campaigns": """
        INSERT INTO campaigns (workspace_id, id, name, key, channel, currency, starts_on, status,
            search_text, created_at, updated_at, version, deleted_at)
        SELECT :w, gen_random_uuid(), 'Chiến dịch ' || {name} || ' ' || n, 'cd-' || n,
            'facebook', 'VND', CASE WHEN n % 10 > 0 THEN date '2027-01-01' + n % 700 END,
            (ARRAY['planned', 'active', 'paused', 'completed'])[n % 4 + 1],
            'chien dich ' || lower({name}) || ' ' || n || ' | cd-' || n,
            now() - n * interval '1 minute', now() - (n % 977) * interval '1 minute', 1,
            CASE WHEN n % 20 = 0 THEN now() END
        FROM generate_series(1, :rows) AS n""",
}
# A third of the names share a word ("nguyen"), as in a Vietnamese customer base.
NAME = "(ARRAY['Nguyễn Văn', 'Trần Thị', 'Lê Minh'])[n % 3 + 1]"
FOLDED = "(ARRAY['nguyen van', 'tran thi', 'le minh'])[n % 3 + 1]"
SEARCHES = [{"q": "nguyen"}, {"q": "xyzzy"}, {"q": "le"}]


def _variants(params: set[str]) -> Iterator[dict[str, Any]]:
    yield {}
    if "q" in params:
        yield from SEARCHES
    if "include_deleted" in params:
        yield {"include_deleted": "true"}
    if "status_category" in params:
        yield {"status_category": "open"}
    everything = {
        "q": "nguyen", "include_deleted": "true", "status_category": "open",
    }  # fmt: skip
    yield {k: v for k, v in everything.items() if k in params}


def _sorts(app: FastAPI, path: str) -> tuple[list[str], set[str]]:
    parameters = app.openapi()["paths"][path]["get"]["parameters"]
    sort = next(p for p in parameters if p["name"] == "sort")
    return sort["schema"]["enum"], {p["name"] for p in parameters}


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _bounded(node: dict[str, Any]) -> bool:
    """An index scan that narrows rows by more than the workspace (a search, a filter)."""
    condition = node.get("Index Cond", "")
    narrowed = re.sub(r"\(?workspace_id = [^)]*\)+", "", condition)
    return node["Node Type"] in ("Bitmap Index Scan", "Index Scan") and bool(
        re.search(r"search_text|status|owner_id|~", narrowed)
    )


def _outline(plan: dict[str, Any]) -> str:
    """The plan in one line: node, index, condition."""
    return " > ".join(
        f"{n['Node Type']}({n.get('Index Name', n.get('Relation Name', ''))}"
        f"{' ' + n['Index Cond'][-60:] if 'Index Cond' in n else ''})"
        for n in _nodes(plan)
    )


_BLOCKING = {"Sort", "Incremental Sort", "Hash", "Aggregate", "Materialize", "WindowAgg"}


def _problems(plan: dict[str, Any], tables: set[str]) -> list[str]:
    """A listed table read whole: a sequential scan that no LIMIT stops early (one above it
    with nothing between that must read everything first), or a sort over rows that neither
    an index condition nor a LIMIT bounded."""
    found = []

    def visit(node: dict[str, Any], above: list[str]) -> None:
        kind = node["Node Type"]
        if kind == "Seq Scan" and node.get("Relation Name") in tables:
            stopped = next((k for k in reversed(above) if k == "Limit" or k in _BLOCKING), None)
            if stopped != "Limit":
                found.append(f"Seq Scan on {node['Relation Name']}")
        if kind in ("Sort", "Incremental Sort") and not any(
            _bounded(n) or n["Node Type"] == "Limit" for n in _nodes(node)
        ):
            found.append("Sort over rows no index condition bounded")
        for child in node.get("Plans", []):
            visit(child, [*above, kind])

    visit(plan, [])
    return found


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Each list page's statement, EXPLAINed on its own connection as it is sent."""
    plans: list[tuple[str, list[str]]] = []
    original = sql.fetch

    async def fetch_and_explain(ctx: Any, statement: Any, params: Any = None) -> Any:
        rows = await original(ctx, statement, params)
        query, args = sql.driver_arguments(statement, ctx.session.get_bind().dialect, params)
        if query.lstrip().startswith("SELECT") and " LIMIT " in query:
            driver = await driver_connection(ctx.session)
            explained = await driver.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
            if isinstance(explained, str):
                explained = json.loads(explained)
            plans.append((query, explained[0]["Plan"]))

        return rows

    monkeypatch.setattr(sql, "fetch", fetch_and_explain)
    return plans  # type: ignore[return-value]


async def _fill(session: AsyncSession, world: World) -> None:
    owners = [world.owner.user_id, world.sales.user_id, world.teammate.user_id]
    params = {"w": world.owner.workspace_id, "owners": owners, "rows": ROWS}
    filled = [
        statement.replace("lower({name})", FOLDED).replace("{name}", NAME)
        for statement in FILL.values()
    ]
    await seed_as_owner(session, filled, params, analyze=list(FILL))


async def test_every_sort_and_filter_of_every_list_and_the_search_are_served_by_indexes(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    captured: list[tuple[str, Any]],
) -> None:
    await _fill(session, world)
    bad = []
    walked = 0
    for path, table in LISTS.items():
        sorts, params = _sorts(app, path)
        for sort in sorts:
            for variant in _variants(params):
                for member in (world.owner, world.sales):
                    captured.clear()
                    query = {"sort": sort, "limit": "50", **variant}
                    response = await client.get(path, params=query, headers=member.headers)
                    assert response.status_code == 200, (path, query, response.text)
                    assert captured, (path, query)
                    walked += 1
                    _, plan = captured[-1]
                    if problems := _problems(plan, {table}):
                        bad.append(f"{path} {member.role} {query} {problems}: {_outline(plan)}")

    for q in ("nguyen", "xyzzy", "le", "a", "le minh 12"):
        for member in (world.owner, world.sales):
            captured.clear()
            response = await client.get("/api/v1/search", params={"q": q}, headers=member.headers)
            assert response.status_code == 200, response.text
            plan = captured[-1][1]
            problems = _problems(plan, set(FILL))
            # Ranking (similarity() per row) runs over at most the candidates a LIMIT let by.
            problems += [
                "ranks every match"
                for node in _nodes(plan)
                if node["Node Type"] == "Sort"
                and not any(n["Node Type"] == "Limit" for n in _nodes(node))
            ]
            if problems:
                bad.append(f"/search {member.role} {q} {problems}: {_outline(plan)}")

    assert walked > 100
    assert bad == [], "\n".join(bad)
