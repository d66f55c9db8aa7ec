from fastapi import APIRouter

from app.auth.dependencies import Member
from app.core.errors import READ_ERRORS, problems
from app.core.routing import CommittingRoute
from app.search import service
from app.search.schemas import SearchQueryParams, SearchResults

router = APIRouter(prefix="/search", tags=["search"], route_class=CommittingRoute)


@router.get("", summary="Search everything", responses=problems(*READ_ERRORS))
async def search(ctx: Member, query: SearchQueryParams) -> SearchResults:
    """Leads, contacts, accounts and deals you can see, in one list, best match first.
    Ignores case and Vietnamese diacritics: "nguyen van anh" finds "Nguyễn Văn Ánh"."""
    return await service.search(ctx, query)
