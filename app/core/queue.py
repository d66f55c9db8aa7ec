"""The arq queue's connection settings and the worker's heartbeat key. They are core's: the API
enqueues and reads the heartbeat (/readyz), and the worker, which imports the app, runs the
jobs; `workers/` imports `app`, never the reverse."""

from arq.connections import ArqRedis, RedisSettings

# The worker writes this key from its poll loop every HEARTBEAT_SECONDS, with a time to live
# of HEARTBEAT_SECONDS + 1 (arq's health check), so its absence means no worker has polled
# the queue lately. /readyz reads it.
HEARTBEAT_KEY = "sen:worker:heartbeat"
HEARTBEAT_SECONDS = 5


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
    client: ArqRedis = ArqRedis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return client
