"""The list and search queries are shaped so an index serves them (the benchmark measures the
speed; these check the plan can't silently become a scan and a sort)."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.transaction import APP_ROLE
from tests.conftest import World, as_role, seed_as_owner


async def _plan(
    session: AsyncSession, world: World, sql: str, *, seqscan: bool = False, **params: object
) -> str:
    await as_role(
        session, APP_ROLE, world.owner.workspace_id, enable_seqscan="on" if seqscan else "off"
    )
    rows = await session.execute(text(f"EXPLAIN {sql}"), params)
    return "\n".join(r[0] for r in rows)


async def test_status_page_newest_first_is_an_index_range_scan_without_a_sort(
    session: AsyncSession, world: World
) -> None:
    await _many_leads(session, world)

    plan = await _plan(
        session,
        world,
        "SELECT * FROM leads WHERE workspace_id = :w AND status = 'hot' AND deleted_at IS NULL"
        " ORDER BY created_at DESC, id DESC LIMIT 51",
        seqscan=True,
        w=world.owner.workspace_id,
    )

    assert "ix_leads_status_recent" in plan
    assert "Sort" not in plan


async def _many_leads(session: AsyncSession, world: World) -> None:
    """30,000 leads with varied tags, then ANALYZE: enough rows and statistics that the planner
    weighs indexes as it would in use."""
    await seed_as_owner(
        session,
        [
            "INSERT INTO leads (workspace_id, id, full_name, status, source, qualification,"
            " score, owner_id, tags, custom_fields, search_text, created_at, updated_at, version)"
            " SELECT :w, gen_random_uuid(), 'Trần ' || n,"
            " (ARRAY['new', 'contacted', 'potential', 'hot', 'unreachable'])[n % 5 + 1],"
            " 'other', 'none', 0, :o,"
            " ARRAY['t' || (n % 500)], '{}', 'tran ' || n, now(), now(), 1"
            " FROM generate_series(1, 30000) AS n"
        ],
        {"w": str(world.owner.workspace_id), "o": str(world.owner.user_id)},
        analyze=["leads"],
    )


async def test_q_is_served_by_the_trigram_index(session: AsyncSession, world: World) -> None:
    await _many_leads(session, world)

    plan = await _plan(
        session,
        world,
        "SELECT id FROM leads WHERE workspace_id = :w AND search_text LIKE '%nguyen%' LIMIT 51",
        w=world.owner.workspace_id,
    )

    assert "ix_leads_search_text" in plan


async def test_tag_filter_is_served_by_the_tags_index(session: AsyncSession, world: World) -> None:
    await _many_leads(session, world)

    plan = await _plan(
        session,
        world,
        "SELECT id FROM leads WHERE workspace_id = :w AND tags @> ARRAY['t7']::varchar[] LIMIT 51",
        w=world.owner.workspace_id,
    )

    assert "ix_leads_tags" in plan
