"""The arq queue's connection settings, shared by the API (enqueue) and the worker."""

from arq.connections import ArqRedis, RedisSettings


def redis_settings(url: str) -> RedisSettings:
    """arq settings for a redis:// or unix:// URL (the embedded Redis listens on a socket)."""
    if url.startswith("unix://"):
        path, _, query = url.removeprefix("unix://").partition("?")
        database = 0
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if key == "db" and value.isdigit():
                database = int(value)
        return RedisSettings(unix_socket_path=path, database=database)
    return RedisSettings.from_dsn(url)


def queue_client(url: str) -> ArqRedis:
    """A client for enqueueing that connects on first use: the API starts, and keeps serving,
    while Redis is down (DESIGN §7: slower, not lost); /readyz reports it."""
    return ArqRedis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
