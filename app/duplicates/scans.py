"""Duplicate scans: every live record of a kind checked against the rules by the worker, a batch
per transaction (its pairs, counters and `last_id` committed together, so a killed worker
resumes where it stopped), then the pairs joined into groups, strongest first, ready to merge."""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound
from app.core.events import emit
from app.core.jobs import enqueue_after_commit, requeue_stuck
from app.core.models import utcnow
from app.core.pagination import Keyset, Page
from app.duplicates import candidates
from app.duplicates.models import DuplicateScan, DuplicateScanGroup, DuplicateScanPair
from app.duplicates.schemas import (
    DuplicateGroup,
    DuplicateGroupQuery,
    DuplicateResource,
    DuplicateScanCreate,
    GroupMember,
    ScanStatus,
)
from app.duplicates.service import active_rules, find_duplicates

BATCH = 500


class DuplicateScanNotFound(NotFound):
    code, title = "duplicate_scan_not_found", "Duplicate scan not found"


class DuplicateScanUnderWay(Conflict):
    code, title = "duplicate_scan_under_way", "A scan of these records is under way"


async def request_scan(ctx: Ctx, data: DuplicateScanCreate) -> DuplicateScan:
    """Queue a scan of every live record of the resource; the worker runs it after commit.
    One at a time per kind (409): a scan reads every record, and a queue of them would hold
    the workers from everyone else's work."""
    await ctx.session.execute(  # two requests at once: the second waits, then sees the first
        select(func.pg_advisory_xact_lock(func.hashtextextended(
            f"sen:duplicate-scan:{ctx.workspace_id}:{data.resource}", 0
        )))
    )  # fmt: skip
    under_way = await ctx.session.scalar(
        select(DuplicateScan.id)
        .where(
            DuplicateScan.workspace_id == ctx.workspace_id,
            DuplicateScan.resource == data.resource,
            DuplicateScan.status.in_((ScanStatus.queued, ScanStatus.running)),
        )
        .limit(1)
    )
    if under_way is not None:
        raise DuplicateScanUnderWay(f"Scan {under_way} is still under way: follow it instead")
    scan = DuplicateScan(
        workspace_id=ctx.workspace_id,
        resource=data.resource.value,
        requested_by=ctx.actor.user_id,
        status=ScanStatus.queued,
    )
    ctx.session.add(scan)
    await ctx.session.flush()
    emit(ctx, "duplicate_scan.requested", "duplicate_scan", scan.id, {"resource": scan.resource})
    _nudge_worker(ctx, scan.id, reason="asked")
    return scan


def _nudge_worker(ctx: Ctx, scan_id: uuid.UUID, *, reason: str) -> None:
    enqueue_after_commit(
        ctx, "run_duplicate_scan", str(ctx.workspace_id), str(scan_id),
        job_id=f"duplicate-scan:{scan_id}:{reason}",
    )  # fmt: skip


async def get_scan(ctx: Ctx, scan_id: uuid.UUID, *, for_update: bool = False) -> DuplicateScan:
    scan = await ctx.session.get(
        DuplicateScan, (ctx.workspace_id, scan_id), with_for_update=for_update or None
    )
    if scan is None:
        raise DuplicateScanNotFound()
    return scan


async def start_scan(ctx: Ctx, scan_id: uuid.UUID) -> bool:
    """Mark a queued scan running and count what it will look at; True for one already
    running too (a job resumed after its worker died), False once it has ended."""
    scan = await get_scan(ctx, scan_id, for_update=True)
    if scan.status == ScanStatus.running:
        return True
    if scan.status != ScanStatus.queued:
        return False
    table = candidates.TARGETS[DuplicateResource(scan.resource)][0].table
    counted = select(func.count()).where(
        table.c.workspace_id == ctx.workspace_id, table.c.deleted_at.is_(None)
    )
    scan.total = (await records.read_rows(ctx, counted))[0][0]
    scan.status, scan.started_at = ScanStatus.running, utcnow()
    await ctx.session.flush()
    return True


async def scan_batch(ctx: Ctx, scan_id: uuid.UUID) -> bool:
    """Check the next `BATCH` records (by id) and keep the pairs found; True while records are
    left, False once the scan is completed (its groups written)."""
    scan = await get_scan(ctx, scan_id, for_update=True)
    if scan.status != ScanStatus.running:
        return False
    kind = DuplicateResource(scan.resource)
    rules = await active_rules(ctx, kind)
    batch = await candidates.stored(ctx, kind, after=scan.last_id, limit=BATCH)
    if not batch:
        await _group_pairs(ctx, scan)
        return False
    pairs: dict[tuple[str, str], tuple[float, str]] = {}
    for record_id, probe in batch:
        me = f"{kind}:{record_id}"
        for found in await find_duplicates(ctx, kind, probe, exclude=record_id, rules=rules):
            other = f"{found.resource}:{found.id}"
            pair = (min(me, other), max(me, other))
            if pair not in pairs or pairs[pair][0] < found.score:
                pairs[pair] = (found.score, found.rule.name)
    if pairs:
        rows = [
            {"workspace_id": ctx.workspace_id, "scan_id": scan.id, "first": a, "second": b,
             "score": score, "rule": rule}
            for (a, b), (score, rule) in pairs.items()
        ]  # fmt: skip
        await ctx.session.execute(insert(DuplicateScanPair).values(rows).on_conflict_do_nothing())
    scan.scanned += len(batch)
    scan.last_id = batch[-1][0]
    await ctx.session.flush()
    return True


async def _group_pairs(ctx: Ctx, scan: DuplicateScan) -> None:
    """Join the scan's pairs into groups (a record in two pairs joins them), rank them by
    their strongest pair, write them, and complete the scan."""
    pairs = (
        await ctx.session.execute(
            select(
                DuplicateScanPair.first, DuplicateScanPair.second,
                DuplicateScanPair.score, DuplicateScanPair.rule,
            ).where(
                DuplicateScanPair.workspace_id == ctx.workspace_id,
                DuplicateScanPair.scan_id == scan.id,
            )
        )
    ).all()  # fmt: skip
    groups = _joined(pairs)
    for rank, (members, score, rules) in enumerate(groups, start=1):
        ctx.session.add(
            DuplicateScanGroup(
                workspace_id=ctx.workspace_id, scan_id=scan.id, rank=rank, score=score,
                records=[_member(m) for m in sorted(members)], rules=sorted(rules),
            )
        )  # fmt: skip
    await ctx.session.execute(
        delete(DuplicateScanPair).where(
            DuplicateScanPair.workspace_id == ctx.workspace_id,
            DuplicateScanPair.scan_id == scan.id,
        )
    )
    scan.groups = len(groups)
    scan.status, scan.finished_at = ScanStatus.completed, utcnow()
    found = {"resource": scan.resource, "groups": scan.groups}
    emit(ctx, "duplicate_scan.completed", "duplicate_scan", scan.id, found)
    await ctx.session.flush()


def _joined(pairs: Iterable[Any]) -> list[tuple[set[str], float, set[str]]]:
    """Connected records (union-find over the pairs), strongest group first."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for first, second, _, _ in pairs:
        parent[root(first)] = root(second)
    groups: dict[str, tuple[set[str], list[float], set[str]]] = {}
    for first, second, score, rule in pairs:
        members, scores, rules = groups.setdefault(root(first), (set(), [], set()))
        members.update((first, second))
        scores.append(score)
        rules.add(rule)
    ranked = [(m, max(s), r) for m, s, r in groups.values()]
    return sorted(ranked, key=lambda g: (-g[1], -len(g[0]), min(g[0])))


def _member(key: str) -> dict[str, str]:
    resource, _, record_id = key.partition(":")
    return {"resource": resource, "id": record_id}


async def groups_of(
    ctx: Ctx, scan_id: uuid.UUID, query: DuplicateGroupQuery
) -> Page[DuplicateGroup]:
    """A page of a scan's groups, strongest first (none until it is completed)."""
    scan = await get_scan(ctx, scan_id)
    keyset = Keyset.of(query, {"rank": DuplicateScanGroup.rank})
    stmt = select(
        DuplicateScanGroup.id, DuplicateScanGroup.rank, DuplicateScanGroup.records,
        DuplicateScanGroup.score, DuplicateScanGroup.rules,
    ).where(
        DuplicateScanGroup.workspace_id == ctx.workspace_id,
        DuplicateScanGroup.scan_id == scan.id,
    )  # fmt: skip
    result = await ctx.session.execute(
        keyset.page_of(stmt, DuplicateScanGroup.rank, DuplicateScanGroup.id)
    )
    rows = keyset.rows(list(result.mappings()), "rank")
    return Page[DuplicateGroup](
        data=[
            DuplicateGroup(
                rank=row["rank"], score=row["score"], rules=row["rules"],
                records=[GroupMember.model_validate(m) for m in row["records"]],
            )
            for row in rows.data
        ],
        next_cursor=rows.next_cursor,
    )  # fmt: skip


async def record_failure(ctx: Ctx, scan_id: uuid.UUID, reason: str) -> None:
    scan = await get_scan(ctx, scan_id, for_update=True)
    scan.status, scan.error, scan.finished_at = ScanStatus.failed, reason[:1000], utcnow()
    emit(ctx, "duplicate_scan.failed", "duplicate_scan", scan.id, {"error": scan.error})
    await ctx.session.flush()


async def requeue_waiting(ctx: Ctx, *, queued_before: datetime, running_before: datetime) -> int:
    """The sweep: scans still queued (their nudge was lost with Redis) and running ones no
    batch has moved for a while (their worker died) are sent to the worker again; a running
    one resumes after its last committed batch."""
    stuck = or_(
        (DuplicateScan.status == ScanStatus.queued) & (DuplicateScan.created_at < queued_before),
        (DuplicateScan.status == ScanStatus.running) & (DuplicateScan.updated_at < running_before),
    )
    return await requeue_stuck(
        ctx, DuplicateScan, stuck, function="run_duplicate_scan", kind="duplicate-scan"
    )
