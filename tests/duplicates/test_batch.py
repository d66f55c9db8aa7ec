"""A batch of new records (an import's) is checked against the duplicate rules as if each were
checked, then saved, one at a time: the same duplicates among the stored records, and among the
batch's own earlier records, which are not stored yet when it is checked (app/duplicates/batch.py
matches them in Python with pg_trgm's own arithmetic)."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts_service
from app.accounts.schemas import AccountCreate
from app.core import records
from app.core.context import Ctx
from app.core.match_keys import company_key, name_key
from app.duplicates import batch as duplicates_batch
from app.duplicates import candidates
from app.duplicates import service as duplicates_service
from app.duplicates.matching import comparable
from app.duplicates.schemas import DuplicateResource
from app.leads import service as leads_service
from app.leads.schemas import LeadCreate
from tests.conftest import World, acting_as

_NAMES = [
    "Nguyễn Văn Ánh", "NGUYEN VAN ANH", "Văn Ánh Nguyễn", "Nguyễn Văn Anh 2", "Ngyuen Van Anh",
    "Nguyễn Ánh", "Trần Thị Lan", "Tran Thi Lan Anh", "Lê Văn Tám", "Le Van Tam 17",
    "Phạm Minh", "Pham Minh Chau", "Hoàng Quốc Việt", "Hoang Quoc Viet", "a", "ab 12 cd",
]  # fmt: skip
_COMPANIES = [
    "Công ty TNHH Minh Phát", "Minh Phat Co., Ltd", "Minh Phát JSC", "Cổ phần Đông Á",
    "Dong A", "Công ty TNHH 1234", "1243", "Tập đoàn Hòa Phát", "Hoa Phat Group", "CTY 12",
]  # fmt: skip


async def test_trigram_similarity_is_pg_trgms(session: AsyncSession, world: World) -> None:
    keys = [name_key(n) for n in _NAMES] + [company_key(c) for c in _COMPANIES]
    pairs = [(a, b) for a in keys for b in keys if a and b]
    await session.execute(
        text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"),
        {"t": candidates.TRIGRAM_THRESHOLD},
    )
    rows = await session.execute(
        text(
            "SELECT similarity(a, b), a % b"
            " FROM unnest(CAST(:a AS text[]), CAST(:b AS text[])) AS p(a, b)"
        ),
        {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
    )

    for (a, b), (similar, close) in zip(pairs, rows.all(), strict=True):
        ta, tb = duplicates_batch.trigrams(a), duplicates_batch.trigrams(b)
        ours = duplicates_batch.trigram_similarity(len(ta & tb), len(ta), len(tb))
        assert ours == similar, (a, b)
        assert (ours >= float(candidates.TRIGRAM_THRESHOLD)) is close, (a, b)


_STORED = [
    {"full_name": "Nguyễn Văn Ánh", "email": "anh@x.vn", "company_name": "Công ty TNHH Minh Phát"},
    {"full_name": "Trần Thị Lan", "phone": "0912 345 678"},
]
_BATCH = [
    {"full_name": "NGUYEN VAN ANH", "company_name": "Minh Phat Co., Ltd"},  # stored, fuzzy
    {"full_name": "Lê Văn Tám", "email": "tam@x.vn", "company_name": "Đông Á"},  # new
    {"full_name": "Le Van Tam", "company_name": "Cổ phần Đông Á"},  # the row above, fuzzy
    {"full_name": "Tran Lan", "phone": "+84912345678"},  # stored, by phone
    {"full_name": "Phạm Minh", "email": "TAM@x.vn"},  # row 1, by email
    {"full_name": "Hoàng Quốc Việt", "phone": "0987 000 111", "company_name": "Hòa Phát"},
    {"full_name": "Hoang Quoc Viet", "company_name": "Tập đoàn Hòa Phát"},  # row 5, fuzzy
    {"full_name": "Hoàng Quốc Việt", "company_name": "Đông Á"},  # a namesake elsewhere: new
    {"full_name": "Hoàng Quốc Vinh", "phone": "0987000111"},  # row 5, by phone
]  # fmt: skip


def _seen(found: list[Any], made: dict[uuid.UUID, int]) -> list[tuple[Any, ...]]:
    """Duplicates with the batch's own records named by their row (their ids differ by run)."""
    return sorted(
        (d.resource, made.get(d.id, d.id), d.score, d.rule.name) for d in found
    )  # fmt: skip


@dataclass(frozen=True)
class _Kind:
    kind: DuplicateResource
    resource: Any
    schema: Any
    create: Any
    values: Any


_LEAD = _Kind(
    DuplicateResource.lead, leads_service.LEADS, LeadCreate, leads_service.create_lead,
    leads_service.lead_values,
)  # fmt: skip
_ACCOUNT = _Kind(
    DuplicateResource.account, accounts_service.ACCOUNTS, AccountCreate,
    accounts_service.create_account, accounts_service.account_values,
)  # fmt: skip


async def _both_ways(
    ctx: Ctx, session: AsyncSession, kind: _Kind, batch_rows: list[dict[str, Any]]
) -> tuple[list[list[tuple[Any, ...]]], list[list[tuple[Any, ...]]]]:
    """What each row finds one at a time (each new one saved before the next is checked,
    then undone), and what it finds in a batch (nothing saved until the end)."""
    await duplicates_service.use_trigram_threshold(ctx)
    organisation = kind.kind is DuplicateResource.account
    probes = [comparable(r.get, organisation=organisation) for r in batch_rows]

    one_by_one: list[list[tuple[Any, ...]]] = []
    made: dict[uuid.UUID, int] = {}
    trial = await session.begin_nested()
    for n, probe in enumerate(probes):
        found = await duplicates_service.find_duplicates(ctx, kind.kind, probe, threshold_set=True)
        one_by_one.append(_seen(found, made))
        if not found:
            record = await kind.create(ctx, kind.schema.model_validate(batch_rows[n]))
            made[record.id] = n
    await trial.rollback()

    batch = await duplicates_batch.batch_of(ctx, kind.kind, probes)
    at_once: list[list[tuple[Any, ...]]] = []
    made = {}
    new = []
    for n in range(len(probes)):
        found = batch.duplicates(n)
        at_once.append(_seen(found, made))
        if not found:
            values = await kind.values(ctx, kind.schema.model_validate(batch_rows[n]))
            prepared = await records.prepare(ctx, kind.resource, values)
            made[prepared.values["id"]] = n
            stored = candidates.as_stored(kind.kind, prepared.values)
            batch.accept(n, kind.kind, prepared.values["id"], stored)
            new.append(prepared)
    await records.create_many(ctx, kind.resource, new)
    return one_by_one, at_once


async def test_a_batch_of_leads_finds_what_one_lead_at_a_time_finds(
    session: AsyncSession, world: World
) -> None:
    ctx = await acting_as(session, world.owner)
    for record in _STORED:
        await leads_service.create_lead(ctx, LeadCreate.model_validate(record))

    one_by_one, at_once = await _both_ways(ctx, session, _LEAD, _BATCH)

    assert at_once == one_by_one
    assert [bool(f) for f in at_once] == [True, False, True, True, True, False, True, False, True]


async def test_a_batch_of_accounts_finds_what_one_account_at_a_time_finds(
    session: AsyncSession, world: World
) -> None:
    ctx = await acting_as(session, world.owner)
    await accounts_service.create_account(
        ctx, AccountCreate(name="Công ty TNHH Minh Phát", tax_code="0312345678")
    )
    rows = [
        {"name": "Minh Phat Co., Ltd"},  # stored, fuzzy name
        {"name": "Đông Á", "tax_code": "0101234567"},  # new
        {"name": "Tập đoàn Hòa Phát", "tax_code": "0101234567"},  # the row above, tax code
        {"name": "Cổ phần Đông Á JSC"},  # row 1, fuzzy name
        {"name": "Hòa Phát", "tax_code": "0312345678"},  # stored, tax code
        {"name": "Sông Hồng"},  # new
    ]

    one_by_one, at_once = await _both_ways(ctx, session, _ACCOUNT, rows)

    assert at_once == one_by_one
    assert [bool(f) for f in at_once] == [True, False, True, True, True, False]
