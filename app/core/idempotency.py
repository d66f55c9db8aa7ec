"""`Idempotency-Key` on POST: a retry with the same key and body replays the first response;
the same key with another body is a 409. The key row is inserted in the request's transaction,
so a concurrent retry waits on it and then replays what the first one committed."""

import hashlib
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request, Response
from sqlalchemy import LargeBinary, SmallInteger, String, UniqueConstraint, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.errors import Conflict
from app.core.models import Base, TenantMixin, utcnow

REPLAY_HEADER = "Idempotent-Replayed"


class IdempotencyKey(TenantMixin, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "scope", "key"),)

    scope: Mapped[str] = mapped_column(String(80))  # whose key: "user:<id>"
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKeyReused(Conflict):
    code, title = "idempotency_key_reused", "This Idempotency-Key was used with another request"


class IdempotentReplay(Exception):
    """Carries the stored response out (as plain values: the session rolls back on the way)."""

    def __init__(self, record: IdempotencyKey) -> None:
        self.status_code = record.status_code or 200
        self.content_type = record.content_type
        self.body = record.body or b""


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
            description="Retry-safe POST: the same key and body replay the first response.",
        ),
    ] = None,
) -> None:
    if idempotency_key is None:
        return
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
    raise IdempotentReplay(first)


Idempotent = Annotated[None, Depends(guard)]


async def remember_response(request: Request, response: Response) -> None:
    """Store the response beside the key, in the same commit as the change it reports."""
    row_id = getattr(request.state, "idempotency_row", None)
    if row_id is None:
        return
    ctx = request.state.ctx
    row = await ctx.session.get(IdempotencyKey, (ctx.workspace_id, row_id))
    if row is not None:
        row.status_code = response.status_code
        row.content_type = response.headers.get("content-type")
        row.body = bytes(response.body)


async def _replay(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return Response(
        content=exc.body,
        status_code=exc.status_code,
        media_type=exc.content_type,
        headers={REPLAY_HEADER: "true"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(IdempotentReplay, _replay)


async def forget_expired(session: AsyncSession, *, older_than: datetime) -> int:
    """Drop keys past their retention (a cron job calls this per workspace)."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < older_than)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
