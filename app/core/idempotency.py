"""`Idempotency-Key` on POST: a retry with the same key and body replays the first response;
the same key with another body is a 409. The key row is inserted in the request's transaction,
so a concurrent retry waits on it and then replays what the first one committed.

A replay shows no more than a GET would: the records the first response is about are checked
again (still there, still visible to the caller), else it is a 404."""

import hashlib
import uuid
from datetime import datetime
from functools import cache
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Header, Request, Response
from sqlalchemy import LargeBinary, SmallInteger, String, UniqueConstraint, delete, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Mapped, mapped_column

from app.core.context import Ctx
from app.core.errors import BadRequest, Conflict, NotFound
from app.core.models import Base, TenantMixin, utcnow
from app.core.records import find_visible, records_in_use

REPLAY_HEADER = "Idempotent-Replayed"
REPLAYED_HEADERS = ("ETag", "Location")  # what a replay repeats besides the body


class IdempotencyKey(TenantMixin, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "scope", "key"),)

    scope: Mapped[str] = mapped_column(String(80))  # whose key: "user:<id>"
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    headers: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # REPLAYED_HEADERS
    # The records the response is about, [[table, id], …]: checked again on every replay.
    records: Mapped[list[list[str]] | None] = mapped_column(JSONB, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKeyReused(Conflict):
    code, title = "idempotency_key_reused", "This Idempotency-Key was used with another request"


class IdempotencyKeyInvalid(BadRequest):
    code, title = "idempotency_key_invalid", "The Idempotency-Key header is empty"


class IdempotentReplay(Exception):
    """Carries the stored response out (as plain values: the session rolls back on the way)."""

    def __init__(self, record: IdempotencyKey) -> None:
        self.status_code = record.status_code or 200
        self.content_type = record.content_type
        self.body = record.body or b""
        self.headers: dict[str, str] = dict(record.headers or {})


async def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}?{request.url.query}\n".encode())
    digest.update(await request.body())
    return digest.hexdigest()


async def guard(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Retry-safe POST: the same key and body replay the first response. "
            "A unique value per request (a UUID); empty or blank is a 400.",
        ),
    ] = None,
) -> None:
    if idempotency_key is None:
        return
    if not idempotency_key.strip():
        # Every client that sends an empty header would share one key: their second
        # requests would replay each other's first.
        raise IdempotencyKeyInvalid(
            "Idempotency-Key is empty: send a unique value per request (a UUID), or no header"
        )
    # Set by the route's permission dependency, which every route declares before this one.
    ctx = getattr(request.state, "ctx", None)
    if ctx is None:
        raise RuntimeError("declare the route's `ctx: Member|Admin` before `_: Idempotent`")
    scope = f"user:{ctx.actor.user_id}"
    fingerprint = await _fingerprint(request)
    row_id = await ctx.session.scalar(
        insert(IdempotencyKey)
        .values(
            workspace_id=ctx.workspace_id,
            id=uuid.uuid4(),
            scope=scope,
            key=idempotency_key,
            fingerprint=fingerprint,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "scope", "key"])
        .returning(IdempotencyKey.id)
    )
    if row_id is not None:
        request.state.idempotency_row = row_id
        return
    first = await ctx.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.workspace_id == ctx.workspace_id,
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == idempotency_key,
        )
    )
    if first is None or first.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body or path"
        )
    await _check_still_visible(ctx, first.records or [])
    raise IdempotentReplay(first)


Idempotent = Annotated[None, Depends(guard)]


_TENANT_KEY = ["workspace_id", "id"]


@cache
def _tenant_models() -> dict[str, Any]:
    """Each tenant table's mapped class, by table name, from the ORM registry (the core
    knows no domain; every model the app loaded is there by its first request). Read once:
    every POST with a key stores its records."""
    return {
        mapper.local_table.name: mapper.class_  # type: ignore[attr-defined]
        for mapper in Base.registry.mappers
        if [column.name for column in mapper.primary_key] == _TENANT_KEY
    }


def _ids_in(body: Any) -> set[str]:
    """What a response is about: its `id`, or, for one made of records (a conversion: lead,
    contact, account, deal), each of theirs."""
    if not isinstance(body, dict):
        return set()
    if isinstance(body.get("id"), str):
        return {body["id"]}
    return {v["id"] for v in body.values() if isinstance(v, dict) and isinstance(v.get("id"), str)}


def _records_about(ctx: Ctx, response: Response) -> list[list[str]] | None:
    """The tenant records the response shows, as [table, id] pairs: those the body names among
    the records this transaction made, checked or loaded."""
    if "json" not in (response.headers.get("content-type") or ""):
        return None
    try:
        ids = _ids_in(orjson.loads(bytes(response.body)))
    except orjson.JSONDecodeError:
        return None
    loaded = ctx.session.identity_map.keys()
    known = records_in_use(ctx) | {(key[0], key[1][-1]) for key in loaded}
    tenant = set(_tenant_models().values())
    found = {
        (model.__table__.name, str(record_id))
        for model, record_id in known
        if str(record_id) in ids and model in tenant
    }
    return [list(pair) for pair in sorted(found)] or None


async def _check_still_visible(ctx: Ctx, records: list[list[str]]) -> None:
    """A replay answers what a GET would: a record since deleted, or moved out of the
    caller's sight (reassigned to another team), is a 404 and its stored body stays unsaid."""
    models = _tenant_models() if records else {}
    for table, record_id in records:
        model = models.get(table)
        if model is not None and await find_visible(ctx, model, uuid.UUID(record_id)) is None:
            raise NotFound()


async def remember_response(request: Request, response: Response) -> None:
    """Store the response beside the key, in the same commit as the change it reports, with
    the records it is about and the headers a replay repeats."""
    row_id = getattr(request.state, "idempotency_row", None)
    if row_id is None:
        return
    ctx = request.state.ctx
    row = await ctx.session.get(IdempotencyKey, (ctx.workspace_id, row_id))
    if row is not None:
        row.status_code = response.status_code
        row.content_type = response.headers.get("content-type")
        row.body = bytes(response.body)
        headers = {
            name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers
        }
        row.headers = headers or None
        row.records = _records_about(ctx, response)


async def _replay(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return Response(
        content=exc.body,
        status_code=exc.status_code,
        media_type=exc.content_type,
        headers={**exc.headers, REPLAY_HEADER: "true"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(IdempotentReplay, _replay)


async def forget_expired(ctx: Ctx, *, older_than: datetime) -> int:
    """Drop the workspace's keys past their retention (a cron job calls this per workspace)."""
    result = await ctx.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.workspace_id == ctx.workspace_id, IdempotencyKey.created_at < older_than
        )
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
