"""Duplicate candidates come from indexes, never a scan of the table: the statement Sen builds
for a probe, planned as the app role under row-level security on 30,000 people (the benchmark
measures the speed; this checks the plan can't silently become a scan)."""

import hashlib
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import match_keys
from app.core.context import SYSTEM, Ctx
from app.core.transaction import APP_ROLE
from app.duplicates import candidates
from app.duplicates.matching import comparable
from app.duplicates.schemas import Criterion, DuplicateResource
from app.duplicates.service import DEFAULT_RULES
from tests.conftest import World, as_role, seed_as_owner


async def _people(session: AsyncSession, world: World) -> None:
    given = "(ARRAY['anh','binh','lan','mai','hung'])[n % 5 + 1] || n"
    names = f"{given} || ' nguyen van'"
    company = "substr(md5(n::text), 1, 12)"
    # What match_keys.person_keys makes of them (test_person_keys_are_what_sen_derives).
    keys = ", ".join(
        f"{pair} || '|' || substr({company}, 1, 4)"
        for pair in (f"{given} || ' nguyen'", f"{given} || ' van'", "'nguyen van'")
    )
    await seed_as_owner(
        session,
        [
            "INSERT INTO leads (workspace_id, id, full_name, status, source, qualification,"
            " score, owner_id, tags, custom_fields, search_text, created_at, updated_at, version,"
            " email_key, phone_e164, name_key, company_key, person_keys)"
            f" SELECT :w, gen_random_uuid(), 'x', 'new', 'other', 'none', 0, :o, '{{}}', '{{}}',"
            f" '', now(), now(), 1, 'k' || n || '@a.vn', '+8491' || lpad(n::text, 7, '0'),"
            f" {names}, {company}, ARRAY[{keys}]"
            " FROM generate_series(1, 30000) AS n",
            "INSERT INTO contacts (workspace_id, id, full_name, owner_id, tags, custom_fields,"
            " search_text, do_not_contact, created_at, updated_at, version, email_key,"
            " phone_e164, name_key)"
            " SELECT :w, gen_random_uuid(), 'x', :o, '{}', '{}', '', false, now(), now(), 1,"
            f" 'c' || n || '@a.vn', '+8498' || lpad(n::text, 7, '0'), {names}"
            " FROM generate_series(1, 30000) AS n",
        ],
        {"w": str(world.owner.workspace_id), "o": str(world.owner.user_id)},
        analyze=["leads", "contacts"],
    )


async def _plan(session: AsyncSession, world: World, record: dict[str, str]) -> str:
    ctx = Ctx(session=session, actor=SYSTEM, workspace_id=world.owner.workspace_id)
    rules = [
        [Criterion.model_validate(c) for c in criteria]
        for resource, _, criteria in DEFAULT_RULES
        if resource == "lead"
    ]
    probe = comparable(record.get, organisation=False)
    lookups = candidates.lookups_for(rules, probe)
    built = candidates.candidate_statement(
        ctx, DuplicateResource.lead, probe, lookups, exclude=uuid.uuid4()
    )
    assert built is not None
    statement, values = built
    dialect = session.get_bind().dialect
    sql = statement.params(values).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    await as_role(
        session,
        APP_ROLE,
        world.owner.workspace_id,
        enable_seqscan="off",
        **{"pg_trgm.similarity_threshold": str(candidates.TRIGRAM_THRESHOLD)},
    )
    rows = await session.execute(text(f"EXPLAIN {sql}"))
    return "\n".join(r[0] for r in rows)


async def test_email_and_phone_candidates_come_from_their_indexes(
    session: AsyncSession, world: World
) -> None:
    await _people(session, world)

    plan = await _plan(session, world, {"email": "K17@A.vn", "phone": "0910000017"})

    for index in ("ix_leads_email_key", "ix_leads_phone_e164", "ix_contacts_email_key",
                  "ix_contacts_phone_e164"):  # fmt: skip
        assert index in plan, plan
    assert "Seq Scan" not in plan, plan


async def test_person_keys_are_what_sen_derives(session: AsyncSession, world: World) -> None:
    await _people(session, world)
    company = hashlib.md5(b"15").hexdigest()[:12]  # lead 15's, as _people made it

    await as_role(session, APP_ROLE, world.owner.workspace_id)
    stored = await session.scalar(
        text("SELECT person_keys FROM leads WHERE name_key = 'anh15 nguyen van'")
    )

    assert sorted(stored) == match_keys.person_keys("anh15 nguyen van", company)


async def test_people_at_a_similar_company_come_from_their_person_keys_not_the_names(
    session: AsyncSession, world: World
) -> None:
    await _people(session, world)
    company = hashlib.md5(b"17").hexdigest()[:12]  # lead 17's, as _people made it

    plan = await _plan(
        session,
        world,
        {"full_name": "Nguyễn Văn Anh17", "company_name": f"Công ty TNHH {company}"},
    )

    assert "ix_leads_person_keys" in plan, plan
    # The name alone would match thousands; the company's trigrams, hundreds at a big one.
    assert "ix_leads_name_key" not in plan, plan
    assert "ix_leads_company_key" not in plan, plan
    assert "Seq Scan on leads" not in plan, plan
    assert "Seq Scan on contacts" not in plan, plan


async def test_no_lookup_at_all_when_no_rule_can_hold(session: AsyncSession, world: World) -> None:
    ctx = Ctx(session=session, actor=SYSTEM, workspace_id=world.owner.workspace_id)
    rules = [
        [Criterion.model_validate(c) for c in criteria]
        for resource, _, criteria in DEFAULT_RULES
        if resource == "lead"
    ]
    probe = comparable({"full_name": "Nguyễn Văn Ánh"}.get, organisation=False)  # no company

    lookups = candidates.lookups_for(rules, probe)

    assert candidates.candidate_statement(ctx, DuplicateResource.lead, probe, lookups) is None
