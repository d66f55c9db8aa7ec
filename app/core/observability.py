"""JSON logs carrying the request id, Prometheus metrics, and the request-body size limit."""

import hmac
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import Processor

from app.core.errors import problem_body
from app.core.paths import template_for
from app.core.settings import get_settings

REQUESTS = Counter("sen_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "sen_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


# The request being served, for every log line it causes (set by RequestMiddleware).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_GIVEN_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")


def _add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    current = request_id.get()
    if current:
        event["request_id"] = current
    return event


def configure_logging(level: str = "INFO") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_StderrLogger,
        cache_logger_on_first_use=True,
    )


class _StderrLogger:
    """Writes each line to whatever sys.stderr is at the time (test capture, a redirect)."""

    def __init__(self, *_: Any) -> None:
        pass

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


log = structlog.get_logger("sen.http")


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_AUTH_PATHS = ("/api/v1/auth/", "/api/v1/me", "/api/v1/calendar.ics")


class RequestMiddleware:
    """Gives each request an id (the caller's `X-Request-ID`, or a new one), echoed in the
    response and carried by its log lines; counts and times requests by route template
    (`/api/v1/leads/{lead_id}`), not raw path; marks every response `nosniff`, and those for
    a signed-in caller (or carrying a credential) `Cache-Control: no-store`. One wrapper: it
    is on every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        current = given.decode() if given and _GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
        request_id.set(current)
        added = [(b"x-request-id", current.encode()), _NOSNIFF]
        if scope["path"].startswith(_AUTH_PATHS) or any(
            k == b"authorization" for k, _ in scope["headers"]
        ):
            added.append(_NO_STORE)  # a response for one caller is no shared cache's to keep
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if any(k.lower() == b"cache-control" for k, _ in headers):
                    added[:] = [h for h in added if h is not _NO_STORE]
                message["headers"] = [*headers, *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = template_for(scope["app"], scope["path"]) or "unmatched"
            elapsed = time.perf_counter() - started
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            if status >= 500 and status != 503:  # a 503 is a dependency's, logged where seen
                log.error("request failed", method=scope["method"], route=route, status=status)


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413: by Content-Length up front, or while streaming.
    The paths in `own_limits` are passed through: their routes stream and limit their bodies
    themselves (an import's upload)."""

    def __init__(self, app: ASGIApp, max_bytes: int, own_limits: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.own_limits = frozenset(own_limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.own_limits:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._too_large(send)
            return
        if length is not None or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # Chunked upload without a length: read it here (it is at most max_bytes) and replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = problem_body(
            413,
            "payload_too_large",
            "Request body too large",
            f"Bodies are limited to {self.max_bytes} bytes",
        )
        response = Response(
            orjson.dumps(body), status_code=413, media_type="application/problem+json"
        )
        await response({"type": "http"}, _never_receive, send)


async def _never_receive() -> Message:
    return {"type": "http.disconnect"}


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics, for a scraper holding SEN_METRICS_TOKEN (unset: not served)."""
    expected = get_settings().metrics_token
    given = request.headers.get("authorization", "")
    if not expected or not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        body = problem_body(404, "not_found", "Not found", "Not Found")
        return Response(orjson.dumps(body), status_code=404, media_type="application/problem+json")
    return Response(_exposition(), media_type=CONTENT_TYPE_LATEST)


def _exposition() -> bytes:
    """This process's metrics; with the API on several processes (PROMETHEUS_MULTIPROC_DIR set
    by app/serving.py before they start), the sum over all of them, read from their files."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return bytes(generate_latest())
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return bytes(generate_latest(registry))
