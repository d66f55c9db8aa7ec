"""The arq queue's connection settings, shared by the API (enqueue) and the worker."""

from arq.connections import RedisSettings


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
