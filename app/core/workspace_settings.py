"""A per-process cache of a workspace's settings (lead statuses, custom field definitions):
read on most writes, changed rarely. Entries are keyed by the workspace's `settings_version`,
which every request reads with the caller's row, so a cached value is never older than the
transaction using it; a change bumps the version in its own transaction."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import func, select, update

from app.core.context import Ctx
from app.core.tenancy import Workspace

T = TypeVar("T")
_MAX_ENTRIES = 20_000
_CACHE: dict[tuple[uuid.UUID, str], tuple[int, Any]] = {}
SETTINGS_VERSIONS = "workspace_settings_versions"  # a sequence (migration 0001)


async def cached(ctx: Ctx, name: str, load: Callable[[], Awaitable[T]]) -> T:
    """`load()`'s value for this workspace, from the cache when its version is current."""
    version = ctx.settings_version
    if version is None or ctx.state.settings_changed:
        return await load()
    key = (ctx.workspace_id, name)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]  # type: ignore[no-any-return]
    value = await load()
    if len(_CACHE) >= _MAX_ENTRIES:
        _CACHE.clear()
    _CACHE[key] = (version, value)
    return value


async def settings_changed(ctx: Ctx) -> None:
    """Call from every service that changes a workspace's settings, in its transaction."""
    ctx.state.settings_changed = True
    # From a sequence, not +1: a rolled-back change must never leave a number that a later
    # change could reuse for different settings. Drawn first, then written: Citus refuses a
    # volatile function (nextval) inside an UPDATE of a distributed table.
    version = await ctx.session.scalar(select(func.nextval(SETTINGS_VERSIONS)))
    await ctx.session.execute(
        update(Workspace).where(Workspace.id == ctx.workspace_id).values(settings_version=version)
    )


async def with_settings_version(ctx: Ctx) -> Ctx:
    """`ctx` reading the workspace's settings through the cache, as a request's does (its
    version is read in this transaction): for a job that makes many records, which would
    otherwise load the rules and statuses again for each one (an import's batch)."""
    version = await ctx.session.scalar(
        select(Workspace.settings_version).where(Workspace.id == ctx.workspace_id)
    )
    return replace(ctx, settings_version=version)
