"""The ceiling for `leads.py`: a bare FastAPI + asyncpg app doing the same lead insert and list
query as Sen, on the same database, with none of Sen's layers (no auth, no ORM, no RLS role
switch, no history row, no middleware).

    POST /leads          one INSERT … RETURNING of the columns Sen writes, the row as JSON
    GET  /leads?status=  WHERE workspace_id=$1 AND status=$2 AND deleted_at IS NULL
                         ORDER BY created_at DESC, id DESC LIMIT 51, the rows as JSON

Configured by environment (set by `leads.py` and `workers.py`): BENCH_DATABASE_URL,
BENCH_WORKSPACE_ID, BENCH_OWNER_ID, BENCH_PORT, and BENCH_WORKERS (uvicorn worker processes,
default 1). Run alone with:

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
import uuid_utils.compat as uuid_compat
import uvicorn
from fastapi import FastAPI, Query, Response
from pydantic import BaseModel, Field

from app.core.phones import to_e164
from app.core.search import search_text

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


def create_app(database_url: str, workspace_id: uuid.UUID, owner_id: uuid.UUID) -> FastAPI:
    pool: asyncpg.Pool | None = None

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
        status: str = Query("new"), limit: int = Query(50, ge=1, le=200)
    ) -> Response:
        assert pool is not None
        rows = await pool.fetch(LIST_SQL, workspace_id, status, limit + 1)
        data = [dict(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = data[-1]
            raw = orjson.dumps(["-created_at", last["created_at"], str(last["id"])])
            next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return _json({"data": data, "next_cursor": next_cursor})

    @app.post("/leads", status_code=201)
    async def create_lead(body: LeadIn) -> Response:
        assert pool is not None
        e164 = to_e164(body.phone)
        now = datetime.now(UTC)
        row = await pool.fetchrow(
            INSERT_SQL,
            workspace_id,
            uuid_compat.uuid7(),
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
        )
        return _json(dict(row) if row else None, status_code=201)

    return app


def app_from_env() -> FastAPI:
    """The app as the environment configures it (uvicorn's factory, one call per worker)."""
    return create_app(
        os.environ["BENCH_DATABASE_URL"],
        uuid.UUID(os.environ["BENCH_WORKSPACE_ID"]),
        uuid.UUID(os.environ["BENCH_OWNER_ID"]),
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
