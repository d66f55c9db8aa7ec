"""The transaction edge: one request is one transaction, committed once, right after the
handler returns and before the response leaves (STYLE §4). A failed commit is an error
response, never a 201 for data that isn't there."""

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import idempotency, jobs
from app.core.db import connection_lost
from app.core.errors import DatabaseUnavailable, infrastructure_error

log = structlog.get_logger("sen.routing")


async def open_session(request: Request) -> AsyncSession:
    """A new session from the app's pool (tests put their own `app.state.open_session`)."""
    session: AsyncSession = request.app.state.sessionmaker()
    return session


async def get_session(request: Request) -> AsyncSession:
    """The request's session, opened by CommittingRoute around the handler."""
    session: AsyncSession = request.state.session
    return session


class CommittingRoute(APIRoute):
    """Opens the request's session, commits it once if the handler succeeded, and closes it
    (rolling back anything uncommitted) whatever happened. Plain try/finally here rather than a
    yield dependency: it is on every request's path, and the exit-stack machinery is not free."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def committing_handler(request: Request) -> Response:
            session = await request.app.state.open_session(request)
            request.state.session = session
            try:
                response = await handler(request)
                if response.status_code < 400:
                    await idempotency.remember_response(request, response)
                    await session.commit()
                    jobs.send_after_commit(session, getattr(request.app.state, "redis", None))
                return response
            except Exception as error:
                # A fault of the database or Redis becomes its 503 here, whichever layer it
                # surfaced in (SQLAlchemy, the driver, a socket).
                unavailable = infrastructure_error(error)
                if unavailable is None:
                    raise
                log.warning("dependency fault", code=unavailable.code, error=repr(error)[:300])
                if isinstance(unavailable, DatabaseUnavailable):
                    await connection_lost(session)
                raise unavailable from error
            finally:
                jobs.forget_pending(session)
                await session.close()

        return committing_handler
