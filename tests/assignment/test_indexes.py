"""`least_loaded` counts open leads along an index, however many leads the workspace has (the
plan is checked here; the benchmark would measure the speed)."""

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignment.service import open_lead_counts
from app.core.transaction import APP_ROLE
from tests.conftest import World, as_role, seed_as_owner


async def test_open_lead_counts_read_the_owners_index_range(
    session: AsyncSession, world: World
) -> None:
    # 30,000 leads, most the owner's: the two candidates own one in fifteen.
    await seed_as_owner(
        session,
        [
            "INSERT INTO leads (workspace_id, id, full_name, status, source, qualification,"
            " score, owner_id, tags, custom_fields, search_text, created_at, updated_at, version)"
            " SELECT :w, gen_random_uuid(), 'Trần ' || n, 'new', 'other', 'none', 0,"
            " CASE n % 30 WHEN 0 THEN CAST(:a AS uuid) WHEN 1 THEN CAST(:b AS uuid) ELSE :o END,"
            " '{}', '{}', 'tran ' || n, now(), now(), 1"
            " FROM generate_series(1, 30000) AS n"
        ],
        {"w": str(world.owner.workspace_id), "o": str(world.owner.user_id),
         "a": str(world.sales.user_id), "b": str(world.teammate.user_id)},
        analyze=["leads"],
    )  # fmt: skip
    counts = open_lead_counts(
        world.owner.workspace_id, [world.sales.user_id, world.teammate.user_id]
    )
    sql = counts.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    await as_role(session, APP_ROLE)

    plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {sql}")))

    assert "ix_leads_owner_recent" in plan
    assert "Seq Scan" not in plan
