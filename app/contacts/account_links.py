"""Contacts' links to accounts when records merge: the links of merged contacts (or to merged
accounts) move to the survivor, a contact linked to the same account twice keeping one link
and its primary account. The links are the contacts domain's rows: only it moves them."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update

from app.contacts.models import AccountContact
from app.contacts.service import CONTACTS, TooManyAccountLinks, _links_by_contact
from app.core.context import Ctx
from app.core.history import jsonable, record_change
from app.core.limits import ACCOUNTS_PER_CONTACT
from app.core.models import table_of

_TABLE = table_of(AccountContact)
_LINKS = _TABLE.c


async def _rows(ctx: Ctx, column: Any, ids: Sequence[uuid.UUID]) -> list[Any]:
    """The links whose `column` is one of `ids`, locked, in `ids`' order (the survivor first),
    then oldest first: the first link to a pair's account or contact is the one kept."""
    stmt = (
        select(_LINKS.id, _LINKS.contact_id, _LINKS.account_id, _LINKS.is_primary)
        .where(_LINKS.workspace_id == ctx.workspace_id, column.in_(ids))
        .order_by(_LINKS.created_at, _LINKS.id)
        .with_for_update()
    )
    rows = list((await ctx.session.execute(stmt)).all())
    rank = {record_id: n for n, record_id in enumerate(ids)}
    return sorted(rows, key=lambda row: rank[getattr(row, column.name)])


async def _apply(
    ctx: Ctx,
    *,
    dropped: list[uuid.UUID],
    moved: list[uuid.UUID],
    moved_to: dict[str, uuid.UUID],
    primary: list[uuid.UUID],
) -> None:
    # Drop first: a moved link then meets no twin (unique per contact and account), and no
    # contact is left with two primary links at any step (unique while primary).
    where = _LINKS.workspace_id == ctx.workspace_id
    if dropped:
        await ctx.session.execute(delete(_TABLE).where(where, _LINKS.id.in_(dropped)))
    if moved:
        await ctx.session.execute(
            update(_TABLE).where(where, _LINKS.id.in_(moved)).values(is_primary=False, **moved_to)
        )
    if primary:
        await ctx.session.execute(
            update(_TABLE).where(where, _LINKS.id.in_(primary)).values(is_primary=True)
        )


def _record_links_changed(
    ctx: Ctx,
    before: dict[uuid.UUID, list[dict[str, Any]]],
    after: dict[uuid.UUID, list[dict[str, Any]]],
) -> None:
    for contact_id, links in after.items():
        if links != before[contact_id]:
            change = {"accounts": {"old": jsonable(before[contact_id]), "new": jsonable(links)}}
            record_change(ctx, CONTACTS.name, contact_id, "updated", change)


async def move_account_links(ctx: Ctx, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID) -> None:
    """The merged contacts' (`from_ids`) links to accounts become the survivor's (`to_id`):
    an account linked twice keeps the survivor's link, else the first merged contact's; the
    survivor's primary account stays primary, or if it has none the first merged one's. More
    than ACCOUNTS_PER_CONTACT links in all is a 409 `account_link_limit` (unlink some first)."""
    rows = await _rows(ctx, _LINKS.contact_id, [to_id, *from_ids])
    kept: dict[uuid.UUID, Any] = {}
    dropped = []
    for row in rows:
        if row.account_id in kept:
            dropped.append(row.id)
        else:
            kept[row.account_id] = row
    if len(kept) > ACCOUNTS_PER_CONTACT:
        raise TooManyAccountLinks(
            f"Merged, the contact would be linked to {len(kept)} accounts; at most "
            f"{ACCOUNTS_PER_CONTACT}: unlink some first"
        )
    primary_account = next((row.account_id for row in rows if row.is_primary), None)
    # The merged contacts' histories keep the links they had, the survivor's what it gained.
    contact_ids = [to_id, *from_ids]
    before = await _links_by_contact(ctx, contact_ids, all_accounts=True)
    await _apply(
        ctx,
        dropped=dropped,
        moved=[row.id for row in kept.values() if row.contact_id != to_id],
        moved_to={"contact_id": to_id},
        primary=[kept[primary_account].id] if primary_account is not None else [],
    )
    after = await _links_by_contact(ctx, contact_ids, all_accounts=True)
    _record_links_changed(ctx, before, after)


async def move_contact_links(
    ctx: Ctx, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID
) -> list[uuid.UUID]:
    """The links of contacts to the merged accounts (`from_ids`) become links to the survivor
    (`to_id`): a contact linked to several of them keeps one link (the survivor's if it had
    one), primary if any of them was. Each contact whose links changed keeps that in its
    history; the ids of those contacts."""
    rows = await _rows(ctx, _LINKS.account_id, [to_id, *from_ids])
    kept: dict[uuid.UUID, Any] = {}
    was_primary: set[uuid.UUID] = set()
    dropped = []
    for row in rows:
        if row.is_primary:
            was_primary.add(row.contact_id)
        if row.contact_id in kept:
            dropped.append(row.id)
        else:
            kept[row.contact_id] = row
    contact_ids = list(kept)
    before = await _links_by_contact(ctx, contact_ids, all_accounts=True)
    await _apply(
        ctx,
        dropped=dropped,
        moved=[row.id for row in kept.values() if row.account_id != to_id],
        moved_to={"account_id": to_id},
        primary=[kept[contact_id].id for contact_id in was_primary],
    )
    after = await _links_by_contact(ctx, contact_ids, all_accounts=True)
    _record_links_changed(ctx, before, after)
    return [contact_id for contact_id in contact_ids if after[contact_id] != before[contact_id]]
