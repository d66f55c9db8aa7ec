"""Rate limits shared by every API process: moving windows kept in Redis (the `limits`
library). When Redis is down they fail open: a login or a lead let through is better than one
refused because the limiter can't count."""

import time
from typing import Any

import structlog
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from app.core.errors import RateLimited

log = structlog.get_logger("sen.ratelimit")
_WARN_EVERY_SECONDS = 30.0


def _limits_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "async+redis+" + redis_url
    return "async+" + redis_url


def client_ip(request: Request) -> str:
    """The caller's address as the server saw it (behind a proxy, run uvicorn with
    `--proxy-headers` and `--forwarded-allow-ips` so this is the client's, not the proxy's)."""
    return request.client.host if request.client else "unknown"


class RateLimiter:
    """`limit` counts one request against `amount` per `seconds` for a key and refuses the one
    over it (429 with Retry-After); `check` refuses without counting (a login is counted only
    when it fails). An amount of 0 turns a limit off."""

    def __init__(self, redis_url: str) -> None:
        self._storage = RedisStorage(
            _limits_uri(redis_url),
            implementation="redispy",
            key_prefix="sen:limits",
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
        )
        self._windows = MovingWindowRateLimiter(self._storage)
        self._last_warning = 0.0

    async def limit(self, name: str, amount: int, seconds: int, *key: str) -> None:
        if amount <= 0:
            return
        item = RateLimitItemPerSecond(amount, seconds)
        if await self._safely(self._windows.hit(item, name, *key), default=True) is False:
            raise await self._refusal(item, name, key)

    async def check(self, name: str, amount: int, seconds: int, *key: str) -> None:
        if amount <= 0:
            return
        item = RateLimitItemPerSecond(amount, seconds)
        if await self._safely(self._windows.test(item, name, *key), default=True) is False:
            raise await self._refusal(item, name, key)

    async def count(self, name: str, amount: int, seconds: int, *key: str) -> None:
        """Count one against the limit without refusing this request."""
        if amount > 0:
            item = RateLimitItemPerSecond(amount, seconds)
            await self._safely(self._windows.hit(item, name, *key), default=True)

    async def _refusal(self, item: Any, name: str, key: tuple[str, ...]) -> RateLimited:
        stats = await self._safely(self._windows.get_window_stats(item, name, *key), default=None)
        wait = int(stats.reset_time - time.time()) + 1 if stats else item.get_expiry()
        return RateLimited(f"Too many requests; try again in {wait} s", retry_after=wait)

    async def _safely(self, call: Any, *, default: Any) -> Any:
        try:
            return await call
        except Exception as error:  # Redis down or slow: let the request through
            now = time.monotonic()
            if now - self._last_warning > _WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning("rate limits not counted: Redis does not answer", error=str(error))
            return default

    async def aclose(self) -> None:
        bridge = self._storage.bridge
        if isinstance(bridge, RedispyBridge):  # the implementation chosen above
            await bridge.storage.aclose()


async def take_turn(redis: Any, name: str, amount: int, seconds: int, *key: str) -> float:
    """A worker's rate limit (a job that must wait its turn rather than be refused): 0 when one
    more may go now, counted; else the seconds until the window of `seconds` where its turn
    falls — the n-th over the limit waits n // amount windows more, so a backlog is spread
    over the windows ahead instead of all retrying at the next one. Fixed windows; Redis
    down: 0 (fail open, as requests do)."""
    if amount <= 0:
        return 0.0
    now = time.time()
    window = int(now // seconds)
    counter = f"sen:turns:{name}:{':'.join(key)}:{window}"
    try:
        taken = int(await redis.incr(counter))
        if taken == 1:
            await redis.expire(counter, seconds * 2)
    except Exception as error:
        log.warning("turns not counted: Redis does not answer", error=str(error))
        return 0.0
    if taken <= amount:
        return 0.0
    windows_ahead = (taken - amount - 1) // amount
    return max((window + 1 + windows_ahead) * seconds - now, 0.05)
