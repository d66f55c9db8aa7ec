"""`sen serve` and `sen api` as a user runs them: embedded servers, migrations, API and worker
in one process tree; the API on several processes sharing one port; a signal stops everything
started, a second start reuses the data, and an API process that dies takes the rest down."""

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

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
        [SEN, "serve", "--workers", "2"], env=env, start_new_session=True,
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


def _api_processes(parent: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The processes serving the API: the parent's children started by multiprocessing."""
    children = psutil.Process(parent.pid).children()
    return [c for c in children if "spawn_main" in " ".join(c.cmdline())]


def _gone(proc: psutil.Process) -> bool:
    try:  # is_running() also tells a reused pid from the process itself
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], seconds: float = 15) -> list[psutil.Process]:
    """The processes still running after `seconds` (none, when all stopped)."""
    deadline = time.monotonic() + seconds
    while any(not _gone(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in procs if not _gone(p)]


def _wait_all_gone(
    data_dir: Path,
    process: subprocess.Popen[bytes],
    api_processes: list[psutil.Process] | None = None,
) -> None:
    if api_processes is None:  # their command lines don't name the data dir
        api_processes = _api_processes(process)
    process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while _started_from(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _started_from(data_dir) == []
    assert _wait_gone(api_processes) == []


def test_serve_stops_everything_on_a_signal_and_keeps_the_data(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "sen-data", _free_port()
    base = f"http://127.0.0.1:{port}"

    first = _start(data_dir, port)
    assert _started_from(data_dir), "expected embedded PostgreSQL and Redis under the data dir"
    assert len(_api_processes(first)) == 2  # --workers 2
    signup = httpx.post(
        f"{base}/api/v1/auth/signup",
        json={"workspace_name": "Serve", "email": "serve@sen.vn", "password": PASSWORD,
              "full_name": "Người dùng"},
    )  # fmt: skip
    assert signup.status_code == 201
    token = signup.json()["access_token"]
    api_processes = _api_processes(first)  # zombies once they stop, before the parent reaps
    with (
        httpx.Client(base_url=base, timeout=30) as http,
        http.stream(
            "GET", "/api/v1/notifications/stream", headers={"Authorization": f"Bearer {token}"}
        ) as stream,
    ):  # an endless response must not hold the shutdown
        assert stream.status_code == 200
        os.killpg(first.pid, signal.SIGTERM)  # what a supervisor or `kill -- -PGID` sends
        with contextlib.suppress(httpx.RemoteProtocolError):  # cut as its process stops
            for _ in stream.iter_lines():
                pass
    _wait_all_gone(data_dir, first, api_processes)
    assert "did not stop in time" not in first.stderr.read().decode()  # type: ignore[union-attr]

    second = _start(data_dir, port)
    login = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": "serve@sen.vn", "password": PASSWORD}
    )
    second.send_signal(signal.SIGINT)  # Ctrl-C
    _wait_all_gone(data_dir, second)

    assert login.status_code == 200


# ----------------------------------------------------------------------------- sen api --workers

METRICS_TOKEN = "jeton-des-metriques"


@pytest.fixture
def two_workers(database_url: str, redis_url: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`sen api --workers 2` on a free port against the test database, answering."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SEN_METRICS_TOKEN": METRICS_TOKEN,
        "SEN_READYZ_CHECKS_WORKER": "false",
    }
    process = subprocess.Popen(
        [SEN, "api", "--port", str(port), "--workers", "2"], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "sen api did not answer /healthz in 60 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield process, port
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _requests_counted(port: int, route: str, status: int) -> float:
    metrics = httpx.get(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert metrics.status_code == 200
    pattern = (
        rf'^sen_http_requests_total{{method="GET",route="{re.escape(route)}",'
        rf'status="{status}"}} (\S+)$'
    )
    found = re.search(pattern, metrics.text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_two_api_processes_share_the_port_and_metrics_sum_over_both(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    parent, port = two_workers
    children = _api_processes(parent)
    assert len(children) == 2
    for child in children:  # each listens on the port itself
        listening = [c for c in child.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        assert [c.laddr.port for c in listening] == [port]

    # Fresh connections, each kept open after its answer, so the OS shows which process holds
    # it; the kernel spreads them over both processes.
    connections = []
    for _ in range(24):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/v1/leads")
        response = conn.getresponse()
        response.read()
        assert response.status == 401
        connections.append(conn)
    ours = {conn.sock.getsockname()[1] for conn in connections}
    served_by: Counter[int] = Counter()
    for child in children:
        for c in child.net_connections("tcp"):
            if c.raddr and c.raddr.port in ours and c.laddr.port == port:
                served_by[child.pid] += 1
    for conn in connections:
        conn.close()

    assert set(served_by) == {c.pid for c in children}, served_by
    assert sum(served_by.values()) == 24
    # Either process answers /metrics with the requests both served.
    assert _requests_counted(port, "/api/v1/leads", 401) == 24


def test_sigterm_stops_every_api_process(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    parent, port = two_workers
    children = _api_processes(parent)
    assert len(children) == 2

    parent.send_signal(signal.SIGTERM)

    assert parent.wait(timeout=40) == 0
    assert _wait_gone(children) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_an_api_process_that_dies_stops_the_others_and_the_command_fails(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    parent, _ = two_workers
    killed, other = _api_processes(parent)

    killed.kill()

    assert parent.wait(timeout=40) == 1
    assert _wait_gone([other]) == []
    assert b"an API process died" in parent.stderr.read()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--workers", "0"], {}, "0 is not in the range 1<=x<=64"),
        (["--workers", "65"], {}, "65 is not in the range 1<=x<=64"),
        ([], {"SEN_API_WORKERS": "0"}, "SEN_API_WORKERS='0': Input should be greater than"),
    ],
)
def test_a_number_of_workers_out_of_range_is_refused(
    args: list[str], env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [SEN, "api", *args], env={**os.environ, **env}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())  # rich wraps its box


def test_a_port_another_process_listens_on_is_refused(database_url: str, redis_url: str) -> None:
    """Even a listener that allows SO_REUSEPORT: the API would otherwise quietly share its
    port with it (another Sen left running, say) and get half the connections."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
        done = subprocess.run(
            [SEN, "api", "--workers", "2", "--port", str(port)], env=env,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
