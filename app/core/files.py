"""Files kept in PostgreSQL, in chunks: what a job writes and a request later sends (an export's
spreadsheet, an import's upload). The API and the workers run on different machines with no
shared disk, so the database is the one place both reach; chunks of about a MiB keep each
statement, and the memory of whoever writes or reads them, bounded however big the file.

A file belongs to one workspace like every tenant row; deleting it deletes its chunks (their
foreign key cascades)."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    bindparam,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core import sql
from app.core.context import Ctx
from app.core.db import enter_workspace
from app.core.ids import new_id
from app.core.models import Base, TenantMixin, table_of, utcnow

CHUNK_BYTES = 1024 * 1024


class StoredFile(TenantMixin, Base):
    """A file's name, type and size; its bytes are its `StoredFileChunk`s, in `seq` order."""

    __tablename__ = "stored_files"

    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredFileChunk(Base):
    __tablename__ = "stored_file_chunks"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "file_id"],
            ["stored_files.workspace_id", "stored_files.id"],
            ondelete="CASCADE",
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    file_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


_FILES = table_of(StoredFile)
_CHUNKS = table_of(StoredFileChunk)
_INSERT_CHUNK = insert(_CHUNKS).values({c.name: bindparam(c.name, type_=c.type) for c in _CHUNKS.c})


@dataclass(frozen=True)
class FileInfo:
    """What a response needs to send a file without reading it first."""

    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    chunks: int


def _info(row: StoredFile) -> FileInfo:
    return FileInfo(row.id, row.filename, row.content_type, row.size, row.chunks)


async def store_file(ctx: Ctx, source: IO[bytes], *, filename: str, content_type: str) -> FileInfo:
    """Copy `source` (read from where it is, to its end) into the database, a chunk at a time,
    in the caller's transaction: the file exists once that commits, or not at all."""
    file_id, seq, size = new_id(), 0, 0
    # The file's row first: its chunks point at it (checked per statement, not deferred).
    ctx.session.add(
        StoredFile(
            workspace_id=ctx.workspace_id,
            id=file_id,
            filename=filename,
            content_type=content_type,
            size=0,
            chunks=0,
        )
    )
    await ctx.session.flush()
    while data := source.read(CHUNK_BYTES):
        values = {"workspace_id": ctx.workspace_id, "file_id": file_id, "seq": seq, "data": data}
        await sql.execute(ctx, _INSERT_CHUNK, values)
        seq, size = seq + 1, size + len(data)
    row = await ctx.session.get(StoredFile, (ctx.workspace_id, file_id))
    assert row is not None
    row.size, row.chunks = size, seq
    await ctx.session.flush()
    return _info(row)


async def file_info(ctx: Ctx, file_id: uuid.UUID) -> FileInfo | None:
    """The file's name, type and size, or None if this workspace has no such file."""
    row = await ctx.session.get(StoredFile, (ctx.workspace_id, file_id))
    return None if row is None else _info(row)


async def delete_files(ctx: Ctx, file_ids: list[uuid.UUID]) -> int:
    """Delete these files of the workspace and their chunks; the number of files deleted."""
    if not file_ids:
        return 0
    deleted = await ctx.session.execute(
        delete(_FILES)
        .where(_FILES.c.workspace_id == ctx.workspace_id, _FILES.c.id.in_(file_ids))
        .returning(_FILES.c.id)
    )
    return len(deleted.all())


SessionOpener = Callable[[], Awaitable[AsyncSession]]


async def file_content(
    open_session: SessionOpener, workspace_id: uuid.UUID, info: FileInfo
) -> AsyncIterator[bytes]:
    """The file's bytes, chunk by chunk, each read in a short transaction of its own on a
    session opened here: a response streams them after its request's transaction has ended,
    and a slow download holds no connection between chunks."""
    session = await open_session()
    try:
        await enter_workspace(session, workspace_id)
        for seq in range(info.chunks):
            data = await session.scalar(
                select(_CHUNKS.c.data).where(
                    _CHUNKS.c.workspace_id == workspace_id,
                    _CHUNKS.c.file_id == info.id,
                    _CHUNKS.c.seq == seq,
                )
            )
            await session.rollback()  # read-only; gives the connection back until the next
            if data is None:  # deleted while it was being sent: end it short, never hang
                return
            yield data
    finally:
        await session.close()
