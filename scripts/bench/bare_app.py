"""The ceiling for `leads.py` and `intake.py`: a bare FastAPI + asyncpg app doing the same lead
insert and list query as Sen, and storing a form submission as Sen does, on the same database,
with none of Sen's layers (no auth, no ORM, no RLS role switch, no history row, no middleware,
no queue).

    POST /leads          one INSERT … RETURNING of the columns Sen writes, the row as JSON
    GET  /leads?status=  WHERE workspace_id=$1 AND status=$2 AND deleted_at IS NULL
                         ORDER BY created_at DESC, id DESC LIMIT 51, the rows as JSON
    POST /intake/forms/{key}
                         a JSON object of fields; the form looked up by its key (one indexed
                         SELECT), the submission INSERTed (payload, context, status
                         'received'), 202 {submission_id}; nothing queued

With BENCH_FLOOR_SECRET set it is the *floor* instead (`leads.py --floor`): the same code
doing only what Sen may not skip without weakening tenancy, auth or history. Each request must
carry a Sen access token (verified with Sen's own `decode_access_token`, signed with this
secret), runs in a transaction whose BEGIN message carries the role, the workspace and the
settings-version check (Sen's own `enter_sql`: one round trip, as in Sen), and COMMITs; a create
writes its history row in the same statement as the lead. Three round trips, as Sen makes.

Configured by environment (set by `leads.py` and `workers.py`): BENCH_DATABASE_URL,
BENCH_WORKSPACE_ID, BENCH_OWNER_ID, BENCH_PORT, BENCH_FLOOR_SECRET, and BENCH_WORKERS (uvicorn
worker processes, default 1). Run alone with:

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/sen_bench \
    BENCH_WORKSPACE_ID=… BENCH_OWNER_ID=… BENCH_PORT=8001 \
        .venv/bin/python scripts/bench/bare_app.py
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import uvicorn
from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from app.auth.security import decode_access_token
from app.core.db import enter_sql
from app.core.ids import new_id
from app.core.phones import to_e164
from app.core.search import search_text
from app.core.transaction import APP_ROLE

COLUMNS = (
    "id, full_name, company_name, title, email, phone, phone_e164, status, source, "
    "qualification, score, industry, province, owner_id, tags, utm_source, utm_medium, "
    "utm_campaign, utm_term, utm_content, custom_fields, notes, version, created_at, "
    "updated_at, deleted_at"
)
LIST_SQL = f"""
    SELECT {COLUMNS} FROM leads
    WHERE workspace_id = $1 AND status = $2 AND deleted_at IS NULL
    ORDER BY created_at DESC, id DESC
    LIMIT $3"""
INSERT_SQL = f"""
    INSERT INTO leads (
        workspace_id, id, full_name, company_name, title, email, phone, phone_e164, status,
        source, qualification, score, industry, province, owner_id, tags, utm_source,
        utm_medium, utm_campaign, utm_term, utm_content, custom_fields, notes, search_text,
        created_at, updated_at, deleted_at, version
    ) VALUES (
        $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $25, $25, NULL, 1
    ) RETURNING {COLUMNS}"""
# The floor's create: the lead and its history row in one statement, as Sen writes them.
INSERT_WITH_HISTORY_SQL = f"""
    WITH lead AS ({INSERT_SQL}),
    change AS (
        INSERT INTO record_changes
            (workspace_id, id, resource, record_id, action, actor_id, at, changes)
        SELECT $1, $26, 'lead', lead.id, 'created', $15, $25, $27 FROM lead
    )
    SELECT * FROM lead"""
FORM_SQL = "SELECT workspace_id, id FROM forms WHERE key = $1 AND active AND deleted_at IS NULL"
SUBMISSION_SQL = """
    INSERT INTO submissions
        (workspace_id, id, provider, form_id, status, payload, context, attempts, retries,
         received_at)
    VALUES ($1, $2, 'form', $3, 'received', $4, $5, 0, 0, $6)"""


class LeadIn(BaseModel):
    full_name: str
    company_name: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None
    status: str = "new"
    source: str = "other"
    qualification: str = "none"
    score: int = 0
    industry: str | None = None
    province: str | None = None
    tags: list[str] = Field(default_factory=list)
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    notes: str | None = None


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(
        orjson.dumps(content, default=str), status_code=status_code, media_type="application/json"
    )


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=orjson.loads, schema="pg_catalog"
    )


class Floor:
    """What Sen must do around the bare statement: a verified caller, and a transaction behind
    the workspace wall (BEGIN carrying role, workspace and settings check; COMMIT)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.settings_version: dict[str, int] = {}

    def caller(self, authorization: str | None) -> dict[str, Any]:
        claims = None
        if authorization and authorization.startswith("Bearer "):
            claims = decode_access_token(self.secret, authorization.removeprefix("Bearer "))
        if claims is None:
            raise HTTPException(401)
        return claims

    async def run(
        self, pool: asyncpg.Pool, claims: dict[str, Any], one: bool, sql: str, *args: Any
    ) -> Any:
        workspace = claims["wid"]
        async with pool.acquire() as conn:
            if workspace not in self.settings_version:
                self.settings_version[workspace] = await conn.fetchval(
                    "SELECT settings_version FROM workspaces WHERE id = $1", uuid.UUID(workspace)
                )
            begin = enter_sql(APP_ROLE, workspace, self.settings_version[workspace])
            await conn.execute("; ".join(["BEGIN", *begin]))
            try:
                result = await (conn.fetchrow if one else conn.fetch)(sql, *args)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
            return result


def create_app(
    database_url: str,
    workspace_id: uuid.UUID,
    owner_id: uuid.UUID,
    floor_secret: str | None = None,
) -> FastAPI:
    pool: asyncpg.Pool | None = None
    floor = Floor(floor_secret) if floor_secret else None

    async def fetch(authorization: str | None, one: bool, sql: str, *args: Any) -> Any:
        assert pool is not None
        if floor is None:
            return await (pool.fetchrow if one else pool.fetch)(sql, *args)
        return await floor.run(pool, floor.caller(authorization), one, sql, *args)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(
            database_url, min_size=4, max_size=32, init=_init_connection
        )
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/leads")
    async def list_leads(
        status: str = Query("new"),
        limit: int = Query(50, ge=1, le=200),
        authorization: str | None = Header(None),
    ) -> Response:
        rows = await fetch(authorization, False, LIST_SQL, workspace_id, status, limit + 1)
        data = [dict(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = data[-1]
            raw = orjson.dumps(["-created_at", last["created_at"], str(last["id"])])
            next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return _json({"data": data, "next_cursor": next_cursor})

    @app.post("/leads", status_code=201)
    async def create_lead(body: LeadIn, authorization: str | None = Header(None)) -> Response:
        e164 = to_e164(body.phone)
        now = datetime.now(UTC)
        history: tuple[Any, ...] = ()
        if floor is not None:
            given = body.model_dump(exclude_unset=True)
            history = (new_id(), {k: {"old": None, "new": v} for k, v in given.items()})
        row = await fetch(
            authorization,
            True,
            INSERT_WITH_HISTORY_SQL if floor is not None else INSERT_SQL,
            workspace_id,
            new_id(),
            body.full_name,
            body.company_name,
            body.title,
            body.email,
            body.phone,
            e164,
            body.status,
            body.source,
            body.qualification,
            body.score,
            body.industry,
            body.province,
            owner_id,
            body.tags,
            body.utm_source,
            body.utm_medium,
            body.utm_campaign,
            body.utm_term,
            body.utm_content,
            body.custom_fields,
            body.notes,
            search_text(body.full_name, body.company_name, body.email, body.phone, e164),
            now,
            *history,
        )
        return _json(dict(row) if row else None, status_code=201)

    @app.post("/intake/forms/{key}", status_code=202)
    async def submit_form(key: str, request: Request) -> Response:
        sent = orjson.loads(await request.body())
        context: dict[str, Any] = {
            "ip": request.client.host if request.client else None,
            "user_agent": request.headers.get("user-agent"),
            "tracking": {},
        }
        assert pool is not None
        async with pool.acquire() as conn:
            form = await conn.fetchrow(FORM_SQL, key)
            if form is None:
                raise HTTPException(404)
            submission_id = new_id()
            await conn.execute(
                SUBMISSION_SQL,
                form["workspace_id"],
                submission_id,
                form["id"],
                sent,
                context,
                datetime.now(UTC),
            )
        return _json({"submission_id": submission_id}, status_code=202)

    return app


def app_from_env() -> FastAPI:
    """The app as the environment configures it (uvicorn's factory, one call per worker)."""
    return create_app(
        os.environ["BENCH_DATABASE_URL"],
        uuid.UUID(os.environ["BENCH_WORKSPACE_ID"]),
        uuid.UUID(os.environ["BENCH_OWNER_ID"]),
        os.environ.get("BENCH_FLOOR_SECRET") or None,
    )


def main() -> None:
    # BENCH_WORKERS > 1 (workers.py): uvicorn's own worker processes, which need the app as an
    # import string (this directory is on PYTHONPATH when the benchmarks start it).
    workers = int(os.environ.get("BENCH_WORKERS", "1"))
    uvicorn.run(
        "bare_app:app_from_env" if workers > 1 else app_from_env(),
        factory=workers > 1,
        workers=workers,
        host="127.0.0.1",
        port=int(os.environ.get("BENCH_PORT", "8001")),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
