"""The transaction edge: one request is one transaction, committed once, right after the
handler returns and before the response leaves (STYLE §4). A failed commit is an error
response, never a 201 for data that isn't there."""

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import idempotency


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session; rolled back on any error, closed after the response."""
    session: AsyncSession = request.app.state.sessionmaker()
    request.state.session = session
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


class CommittingRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def committing_handler(request: Request) -> Response:
            response = await handler(request)
            session: AsyncSession | None = getattr(request.state, "session", None)
            if session is not None and response.status_code < 400:
                await idempotency.remember_response(request, response)
                await session.commit()
            return response

        return committing_handler
