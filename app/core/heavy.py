"""A cap on one workspace's heavy queries (text searches) running at once in this process, so
one tenant can't take every database connection from the others: the one over the cap is a
429 at once, holding nothing, instead of one more connection waiting its turn."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.core.context import Ctx
from app.core.errors import RateLimited
from app.core.settings import get_settings

_RUNNING: dict[uuid.UUID, int] = {}


class WorkspaceBusy(RateLimited):
    code, title = "workspace_busy", "Your workspace has too many searches running"


@asynccontextmanager
async def heavy_query(ctx: Ctx) -> AsyncIterator[None]:
    """Count a heavy query against its workspace's SEN_HEAVY_REQUESTS_PER_WORKSPACE (0: no
    cap) while it runs; over the cap, 429 with Retry-After."""
    cap = get_settings().heavy_requests_per_workspace
    running = _RUNNING.get(ctx.workspace_id, 0)
    if cap and running >= cap:
        raise WorkspaceBusy(
            f"{running} searches of your workspace are running; try again in a moment",
            retry_after=1,
        )
    _RUNNING[ctx.workspace_id] = running + 1
    try:
        yield
    finally:
        left = _RUNNING[ctx.workspace_id] - 1
        if left:
            _RUNNING[ctx.workspace_id] = left
        else:
            del _RUNNING[ctx.workspace_id]
