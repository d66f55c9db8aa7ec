"""How much a workspace may hold of what its unpaged lists return, and how big a record's custom
fields may grow: without these, one admin's setup makes every member's responses huge.

The values are part of the API contract (route and field descriptions state them), so they are
constants rather than settings: the committed spec must not promise one bound while a deployment
enforces another. Each cap answers 409 with its own code; `ensure_room` is the one check."""

from sqlalchemy import ColumnElement, Table, func, select

from app.core.context import Ctx
from app.core.errors import Conflict
from app.core.tenancy import Workspace

CUSTOM_FIELDS_PER_RESOURCE = 50
CUSTOM_FIELDS_MAX_BYTES = 16 * 1024  # a record's `custom_fields` as compact UTF-8 JSON
# A text value, even at 3 UTF-8 bytes a character (Vietnamese) or escaped, fits in
# CUSTOM_FIELDS_MAX_BYTES on its own; longer prose belongs in notes or activities.
CUSTOM_FIELD_TEXT_CHARS = 2000
PIPELINES_PER_WORKSPACE = 50  # live ones: deleted pipelines are never listed
STAGES_PER_PIPELINE = 30  # retired ones included: a pipeline reads with all its stages
LEAD_STATUSES_PER_WORKSPACE = 50  # retired ones included: the list shows them
ACCOUNTS_PER_CONTACT = 50  # every contact in a list page carries all its account links
RECORDS_PER_MERGE = 10  # merged into one survivor at once: each is locked, its rows moved


class LimitReached(Conflict):
    """The workspace holds as many of these as allowed: remove one first."""

    code, title = "limit_reached", "The workspace holds as many of these as allowed"


async def ensure_room(
    ctx: Ctx, table: Table, *where: ColumnElement[bool], cap: int, error: LimitReached
) -> None:
    """Raise `error` when the workspace already has `cap` rows of `table` matching `where`.

    The workspace row is locked first (as a settings change locks it), so two admins adding at
    once queue here and the second one counts the first one's row: the cap holds exactly."""
    await ctx.session.execute(
        select(Workspace.id)
        .where(Workspace.id == ctx.workspace_id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: inserts' key-share locks pass
    )
    held = await ctx.session.scalar(
        select(func.count())
        .select_from(table)
        .where(table.c.workspace_id == ctx.workspace_id, *where)
    )
    if (held or 0) >= cap:
        raise error
