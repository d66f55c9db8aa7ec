"""Every problem the suite sees the app answer must be in the committed spec: the operation,
its status and its `code`. Clients switch on those codes, so a route that can answer one its
OpenAPI entry doesn't list breaks them; the suite's thousands of requests find such routes.

`recorded(app)` wraps an app for a test transport or server and notes each problem+json
answer; tests/conftest.py's hooks gather the notes (from every xdist worker) and fail the run
when one is missing from openapi/openapi.json."""

import json
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PROBLEM_MEDIA_TYPE, documented_codes
from app.core.paths import methods_for, template_for

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"

# (method, path template, status, code), e.g. ("post", "/api/v1/leads/{lead_id}/convert",
# 409, "lead_already_converted"). Uvicorn test servers note from their own thread: set.add
# is atomic under the GIL.
Seen = tuple[str, str, int, str]
SEEN: set[Seen] = set()


def _template(scope: Scope) -> str | None:
    """The operation's path as the spec names it (`/api/v1/leads/{lead_id}`), also for an
    answer given before routing (the body-size limit); None off the documented operations (an
    unknown path, a 405)."""
    app, path = scope.get("app"), scope["path"]
    if not isinstance(app, FastAPI) or scope["method"] not in methods_for(app, path):
        return None
    return template_for(app, path)


class _Recorder:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body: list[bytes] | None = None

        async def noting(message: Message) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                body = [] if kind.startswith(PROBLEM_MEDIA_TYPE.encode()) else None
            elif message["type"] == "http.response.body" and body is not None:
                body.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, noting)
        # A 500 is a bug, never a documented answer (schemathesis fails on any).
        if body is None or status == 500:
            return
        template = _template(scope)
        if template is not None:
            code = str(orjson.loads(b"".join(body)).get("code"))
            SEEN.add((scope["method"].lower(), template, status, code))


def recorded(app: ASGIApp) -> ASGIApp:
    """`app`, noting the problems it answers (for transports and servers in tests)."""
    return _Recorder(app)


def undocumented(seen: set[Seen]) -> list[str]:
    """What the suite saw answered that the committed spec does not list."""
    spec = json.loads(SPEC.read_text())
    shared = spec["components"].get("responses", {})
    missing = []
    for method, path, status, code in sorted(seen):
        operation = spec["paths"].get(path, {}).get(method)
        if operation is None:
            missing.append(f"{method.upper()} {path}: not in the spec ({status} `{code}`)")
            continue
        response = operation["responses"].get(str(status), {})
        response = shared.get(response.get("$ref", "").rsplit("/", 1)[-1], response)
        if code not in documented_codes(response):
            missing.append(f"{method.upper()} {path} {status}: `{code}`")
    return missing


def as_lists(seen: set[Seen]) -> list[list[Any]]:
    """For xdist's workeroutput (what execnet carries)."""
    return [list(item) for item in sorted(seen)]
