"""One search over leads, contacts, accounts and deals: each kind through its folded
`search_text` and trigram index, under the actor's visibility, ranked together by similarity."""

from typing import Any

from sqlalchemy import func, literal, select, union_all

from app.accounts.models import Account
from app.contacts.models import Contact
from app.core import records
from app.core.context import Ctx
from app.core.heavy import heavy_query
from app.core.models import table_of
from app.core.records import restrict_to_visible
from app.core.search import fold, matches
from app.core.sql import AnySelect
from app.deals.models import Deal
from app.leads.models import Lead
from app.search.schemas import SearchHit, SearchQuery, SearchResults

# Each kind: its model, the title and the subtitle a hit shows.
KINDS: list[tuple[str, Any, Any, Any]] = [
    ("lead", Lead, Lead.full_name, Lead.company_name),
    ("contact", Contact, Contact.full_name, Contact.email),
    ("account", Account, Account.name, func.coalesce(Account.tax_code, Account.province)),
    ("deal", Deal, Deal.name, Deal.status),
]


# Matches ranked per kind: a word found in most of a workspace's records is not worth ranking
# them all (similarity() on every row); the first this many the index yields are.
CANDIDATES = 200


def search_statement(ctx: Ctx, query: SearchQuery) -> AnySelect | None:
    """The ranked union of the four kinds' best matches (None: no word to look for). Each
    kind's candidates come from its index, at most CANDIDATES of them, then are ranked."""
    folded = fold(query.q)
    branches = []
    for kind, model, title, subtitle in KINDS:
        condition = matches(model.search_text, query.q)
        if condition is None:
            return None
        found = (
            restrict_to_visible(
                select(
                    model.id,
                    title.label("title"),
                    subtitle.label("subtitle"),
                    model.search_text.label("search_text"),
                ).where(
                    model.workspace_id == ctx.workspace_id, condition, model.deleted_at.is_(None)
                ),
                table_of(model),
                ctx.actor,
            )
            .limit(CANDIDATES)
            .subquery(f"{kind}_found")
        )
        rank = func.similarity(found.c.search_text, folded)
        best = (
            select(
                literal(kind).label("type"),
                found.c.id,
                found.c.title,
                found.c.subtitle,
                rank.label("rank"),
            )
            .order_by(rank.desc(), found.c.id)
            .limit(query.limit)
        )
        branches.append(select(best.subquery()))
    hits = union_all(*branches).subquery("hits")
    return select(hits).order_by(hits.c.rank.desc(), hits.c.type, hits.c.id).limit(query.limit)


async def search(ctx: Ctx, query: SearchQuery) -> SearchResults:
    """The best `limit` matches across the four kinds; words match anywhere, in any order."""
    statement = search_statement(ctx, query)
    rows = []
    if statement is not None:
        async with heavy_query(ctx):
            rows = await records.fetch(ctx, statement)
    return SearchResults(
        data=[
            SearchHit(type=r["type"], id=r["id"], title=r["title"], subtitle=r["subtitle"])
            for r in rows
        ]
    )
