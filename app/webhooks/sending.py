"""One attempt at a delivery, as Standard Webhooks describe it (https://www.standardwebhooks.com):
the body signed with the webhook's secret, `webhook-id` / `webhook-timestamp` /
`webhook-signature` headers, sent to an address checked just before (app/webhooks/addresses.py)
and connected to as checked, no redirect followed, bounded in time and in what is read back.
No database here: the worker's job records what an attempt returns."""

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import httpx

from app.webhooks.addresses import (
    AddressRefused,
    HostUnresolved,
    Resolver,
    checked_addresses,
    system_resolver,
)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
KEPT_RESPONSE_CHARS = 2000  # of a receiver's answer, kept on the delivery
USER_AGENT = "Sen-Webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `id.timestamp.body`, keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def webhook_client() -> httpx.AsyncClient:
    """The worker's client for webhooks: no redirects, no proxy from the environment (it would
    connect instead of the checked address), and no kept connections (each attempt connects
    to the address it checked, with its own host's TLS name)."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


@dataclass(frozen=True)
class Attempt:
    """How one attempt went: the receiver's status code (None when none answered), how long
    it took, what went wrong, and the start of its answer. `refused`: no connection was made,
    the address is one webhooks may not go to."""

    status_code: int | None
    latency_ms: int
    error: str | None = None
    response_body: str | None = None
    refused: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """At most `limit` bytes of the answer (as sent: compressed answers were not asked for),
    the rest never read."""
    read = bytearray()
    async for chunk in response.aiter_raw():
        read += chunk[: limit - len(read)]
        if len(read) >= limit:
            break
    return bytes(read)


async def post(
    http: httpx.AsyncClient,
    url: str,
    *,
    secret: str,
    message_id: str,
    body: bytes,
    allow_private: bool,
    time_limit: float,
    max_response_bytes: int,
    resolve: Resolver = system_resolver,
) -> Attempt:
    """Send `body` to `url` once. Never raises for what the receiver or the network does: a
    refused address, a name that doesn't resolve, a failed connection or a timeout is an
    Attempt with its `error`."""
    started = time.monotonic()

    def spent() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        return Attempt(None, spent(), f"not a URL: {error}")
    host = parsed.raw_host.decode("ascii")  # an IDN as its xn-- name, for DNS, Host and SNI
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await checked_addresses(
            host, port, allow_private=allow_private, resolve=resolve
        )
    except AddressRefused as error:
        return Attempt(None, spent(), f"refused: {error}", refused=True)
    except HostUnresolved as error:
        return Attempt(None, spent(), str(error))
    timestamp = int(time.time())
    headers = {
        "Host": parsed.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "Accept-Encoding": "identity",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
    # TLS checks the certificate against the URL's host, not the address connected to.
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    failures = []
    for address in addresses:
        target = parsed.copy_with(host=str(address))
        try:
            async with asyncio.timeout(time_limit):
                async with http.stream(
                    "POST",
                    target,
                    content=body,
                    headers=headers,
                    extensions=extensions,
                    follow_redirects=False,
                    timeout=httpx.Timeout(time_limit),
                ) as response:
                    answer = await _read_capped(response, max_response_bytes)
        except httpx.ConnectError as error:
            failures.append(f"{address}: {str(error) or type(error).__name__}")
            continue  # the next address the host has
        except (TimeoutError, httpx.TimeoutException):
            return Attempt(None, spent(), f"no answer within {time_limit:g} s")
        except httpx.HTTPError as error:
            return Attempt(None, spent(), f"{type(error).__name__}: {error}")
        text = answer.decode("utf-8", errors="replace")[:KEPT_RESPONSE_CHARS]
        failed = None if 200 <= response.status_code < 300 else f"answered {response.status_code}"
        return Attempt(response.status_code, spent(), failed, text)
    return Attempt(None, spent(), "could not connect: " + "; ".join(failures))
