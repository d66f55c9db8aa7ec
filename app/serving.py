"""The API on N processes sharing one port.

One process (N=1) runs uvicorn in the caller's own event loop, as it always has. With N>1 the
caller's process becomes a parent that serves nothing itself: it starts N child processes
(multiprocessing's "spawn" context, so none inherits the parent's loop, pools or threads), each
running the whole app under uvicorn. On Linux each child binds its own listening socket with
SO_REUSEPORT and the kernel spreads new connections between them; elsewhere the parent binds one
socket and every child accepts on it.

The parent watches its children. SIGINT or SIGTERM to it stops them all (SIGTERM each, so each
finishes its requests and closes its pools) and it returns; a child that exits on its own (a
crash, an OOM kill, a failed startup) makes it stop the others and raise `ApiProcessDied`, so
whoever runs Sen restarts the whole thing instead of serving on fewer cores without knowing.
Children are in their own process group (Ctrl-C in a terminal reaches the parent alone, which
then stops them in order) and, on Linux, are sent SIGTERM if the parent itself dies.

Prometheus metrics are kept per process in files under PROMETHEUS_MULTIPROC_DIR (one directory
per run, emptied at start); `/metrics` in any child reports the sum over all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import structlog

from app.core.settings import MAX_API_WORKERS

STOP_TIMEOUT_SECONDS = 25.0  # a child's graceful shutdown, then SIGKILL
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1

log = structlog.get_logger("sen.serving")


class ApiProcessDied(Exception):
    """An API process exited without being asked to."""


class CannotListen(Exception):
    """Something already listens on the port."""


@dataclass(frozen=True)
class ApiSpec:
    """What an API process needs to serve: the URLs (already resolved, so children never start
    embedded servers of their own) and where to listen."""

    db_url: str
    queue_url: str
    host: str
    port: int


def api_server(spec: ApiSpec) -> Any:
    """A uvicorn.Server for the app (not started). Returned as Any: uvicorn has no types."""
    import uvicorn

    from app.main import create_app

    app = create_app(db_url=spec.db_url, queue_url=spec.queue_url)
    config = uvicorn.Config(app, host=spec.host, port=spec.port, log_config=None, access_log=False)
    return uvicorn.Server(config)


def _reuse_port() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on. With SO_REUSEPORT the kernel would let a
    second Sen (same user) join the first one's port and quietly take half its traffic."""
    try:
        _listening_socket(host, port, reuse_port=False).close()
    except OSError as error:
        raise CannotListen(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel send this process SIGTERM when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _child(spec: ApiSpec, parent_pid: int, inherited: socket.socket | None) -> None:
    """An API process: its own process group, its own socket (or the parent's), uvicorn."""
    os.setpgid(0, 0)
    _die_with_parent(parent_pid)
    sock = inherited or _listening_socket(spec.host, spec.port, reuse_port=True)
    server = api_server(spec)
    # uvicorn handles SIGTERM (graceful shutdown) and re-raises it once done, which ends the
    # process with the signal: the parent asked for it, so that is a clean stop.
    server.run(sockets=[sock])


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """PROMETHEUS_MULTIPROC_DIR for this run, set in os.environ for the children to inherit:
    the one the environment names (emptied first, as prometheus_client asks) or a new
    temporary directory, removed afterwards."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="sen-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def _stop(processes: list[BaseProcess]) -> None:
    """SIGTERM every live child, wait for all (SIGKILL after STOP_TIMEOUT_SECONDS)."""
    for process in processes:
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(STOP_TIMEOUT_SECONDS)
        if process.is_alive():
            log.warning("API process did not stop in time; killing it", pid=process.pid)
            process.kill()
            process.join()


async def serve_processes(
    spec: ApiSpec, workers: int, *, until: asyncio.Future[Any] | None = None
) -> None:
    """Serve the API from `workers` child processes on spec.host:spec.port until SIGINT or
    SIGTERM (or `until` is done), then stop them all and return. A child that exits on its own
    stops the others and raises ApiProcessDied; a port already taken raises CannotListen.
    Call from the main thread."""
    if not 1 <= workers <= MAX_API_WORKERS:
        raise ValueError(f"workers must be between 1 and {MAX_API_WORKERS}, not {workers}")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    died: asyncio.Future[BaseProcess] = loop.create_future()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        loop.add_signal_handler(sig, stop.set)
    processes: list[BaseProcess] = []
    shared: socket.socket | None = None
    context = multiprocessing.get_context("spawn")

    def exited(process: BaseProcess) -> None:
        loop.remove_reader(process.sentinel)
        if not died.done():
            died.set_result(process)

    try:
        with metrics_directory():
            if _reuse_port():
                _check_port_free(spec.host, spec.port)
            else:
                shared = _listening_socket(spec.host, spec.port, reuse_port=False)
            waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait()), died}
            if until is not None:
                waits.add(until)
            try:
                for _ in range(workers):
                    child = context.Process(
                        target=_child, args=(spec, os.getpid(), shared), name="sen-api"
                    )
                    child.start()
                    processes.append(child)
                    loop.add_reader(child.sentinel, exited, child)
                log.info("API processes started", pids=[p.pid for p in processes], port=spec.port)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits - {died, until}:
                    waiting.cancel()
                for process in processes:
                    loop.remove_reader(process.sentinel)
                await asyncio.to_thread(_stop, processes)
            if died.done() and not stop.is_set():
                dead = died.result()
                raise ApiProcessDied(
                    f"API process {dead.pid} exited with code {dead.exitcode}; stopped the others"
                )
    finally:
        if shared is not None:
            shared.close()
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)
