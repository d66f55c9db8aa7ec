"""A customer's webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies each
post with the reference Standard Webhooks library, answers from a script (500, 500, 200…),
and keeps what it saw; and a bare TCP listener that only counts connections."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.servers import serve


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each post with the next status in `script` (200 when it runs out); a post
    whose signature `standardwebhooks` does not verify with `secret` is answered 400."""

    url: str = ""
    secret: str | None = None
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def reset(self, *script: int) -> None:
        self.secret, self.script, self.received = None, list(script), []

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.verified and 200 <= r.answered < 300]

    async def answer(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = False
        if self.secret is not None:
            try:
                Verifier(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        status = (self.script.pop(0) if self.script else 200) if verified else 400
        self.received.append(Received(headers, body, verified, status))
        return PlainTextResponse("đã nhận" if status < 300 else "lỗi", status_code=status)


async def _slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params["seconds"]))
    return PlainTextResponse("muộn")


async def _big(request: Request) -> Response:
    return PlainTextResponse("x" * int(request.query_params["bytes"]))


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver()
    app = Starlette(
        routes=[
            Route("/hooks/sen", receiver.answer, methods=["POST"]),
            Route("/slow", _slow, methods=["POST"]),
            Route("/big", _big, methods=["POST"]),
        ]
    )
    server, thread, url = serve(app)
    receiver.url = f"{url}/hooks/sen"
    yield receiver
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.reset()
    return receiver_server


@dataclass
class Listener:
    """A TCP port on 127.0.0.1 that counts the connections made to it and closes them."""

    port: int
    connections: int = 0


@pytest_asyncio.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener(port=0)

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found.connections += 1
        writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found
