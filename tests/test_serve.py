"""`sen serve` as a user runs it: embedded servers, migrations, API and worker in one process
tree; a signal stops everything it started, and a second start reuses the data."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

SEN = str(Path(sys.executable).with_name("sen"))
PASSWORD = "mat-khau-123"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SEN_DATA_DIR=str(data_dir), PORT=str(port))
    process = subprocess.Popen(
        [SEN, "serve"], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        time.sleep(0.2)
    process.kill()
    raise AssertionError("sen serve did not become ready in 60 s")


def _started_from(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(proc)
    return found


def _wait_all_gone(data_dir: Path, process: subprocess.Popen[bytes]) -> None:
    process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while _started_from(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _started_from(data_dir) == []


def test_serve_stops_everything_on_a_signal_and_keeps_the_data(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "sen-data", _free_port()
    base = f"http://127.0.0.1:{port}"

    first = _start(data_dir, port)
    assert _started_from(data_dir), "expected embedded PostgreSQL and Redis under the data dir"
    signup = httpx.post(
        f"{base}/api/v1/auth/signup",
        json={"workspace_name": "Serve", "email": "serve@sen.vn", "password": PASSWORD,
              "full_name": "Người dùng"},
    )  # fmt: skip
    assert signup.status_code == 201
    os.killpg(first.pid, signal.SIGTERM)  # what a supervisor or `kill -- -PGID` sends
    _wait_all_gone(data_dir, first)

    second = _start(data_dir, port)
    login = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": "serve@sen.vn", "password": PASSWORD}
    )
    second.send_signal(signal.SIGINT)  # Ctrl-C
    _wait_all_gone(data_dir, second)

    assert login.status_code == 200
