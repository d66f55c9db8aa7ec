"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next
request as soon as the previous answer is read, for a fixed time after a warm-up.

Raw asyncio streams on uvloop (no HTTP client library in the loop), so one client core can drive
far more requests per second than the servers under test. Prints one JSON object: requests/s,
latency percentiles in ms and the status codes seen. `--record FILE` also writes each answered
2xx request of the measured window as a JSON line: when it was sent (wall clock, seconds since
the epoch) and the response body (`intake.py` matches submissions to their send times with it).
Used by `leads.py`; runnable alone:

    .venv/bin/python scripts/bench/loadgen.py --port 8000 --path '/healthz' \
        --concurrency 32 --duration 10 --warmup 2 --cpu 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop


@dataclass
class Recorder:
    """Latencies of requests that started and finished inside the measured window."""

    window_start: float
    window_end: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0
    # With --record: (wall-clock send time, response body) of each 2xx answer in the window.
    accepted: list[tuple[float, bytes]] | None = None

    def record(
        self, started: float, finished: float, status: int, sent_at: float, body: bytes
    ) -> None:
        if started >= self.window_start and finished <= self.window_end:
            self.latencies.append(finished - started)
            self.statuses[status] += 1
            if self.accepted is not None and 200 <= status < 300:
                self.accepted.append((sent_at, body))


def build_requests(
    method: str, host: str, port: int, path: str, headers: list[str], bodies: list[bytes]
) -> list[bytes]:
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    head += headers
    if not bodies:
        return [("\r\n".join(head) + "\r\n\r\n").encode()]
    prepared = []
    for body in bodies:
        lines = [*head, "Content-Type: application/json", f"Content-Length: {len(body)}"]
        prepared.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return prepared


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """Read one response; return its status, whether the server keeps the connection, and its
    body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            keep_alive = False
    body = b""
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    elif length:
        body = await reader.readexactly(length)
    return status, keep_alive, body


async def connection_loop(
    host: str, port: int, requests: list[bytes], offset: int, stop_at: float, rec: Recorder
) -> None:
    clock = time.perf_counter
    index = offset
    while clock() < stop_at:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while clock() < stop_at:
                request = requests[index % len(requests)]
                index += 1
                sent_at = time.time()
                started = clock()
                writer.write(request)
                status, keep_alive, body = await read_response(reader)
                rec.record(started, clock(), status, sent_at, body)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            rec.failures += 1
        finally:
            writer.close()


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(
    args: argparse.Namespace,
    bodies: list[bytes],
    accepted: list[tuple[float, bytes]] | None = None,
) -> dict[str, Any]:
    """The load; with `accepted`, each 2xx answer of the window is added to it."""
    requests = build_requests(args.method, args.host, args.port, args.path, args.header, bodies)
    now = time.perf_counter()
    end = now + args.warmup + args.duration
    rec = Recorder(window_start=now + args.warmup, window_end=end, accepted=accepted)
    stride = max(1, len(requests) // args.concurrency)
    await asyncio.gather(
        *(
            connection_loop(args.host, args.port, requests, i * stride, rec.window_end, rec)
            for i in range(args.concurrency)
        )
    )
    latencies = sorted(rec.latencies)
    ok = sum(n for code, n in rec.statuses.items() if 200 <= code < 300)
    return {
        "requests": len(latencies),
        "ok": ok,
        "rps": len(latencies) / args.duration,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "statuses": {str(code): n for code, n in sorted(rec.statuses.items())},
        "connection_failures": rec.failures,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", required=True)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--bodies", help="A file of JSON bodies, one a line, sent in turn")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--cpu", type=int, help="Pin this process to one CPU")
    parser.add_argument("--record", help="Write each 2xx answer's send time and body here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    bodies: list[bytes] = []
    if args.bodies:
        bodies = [line.encode() for line in Path(args.bodies).read_text().splitlines() if line]
    accepted: list[tuple[float, bytes]] | None = [] if args.record else None
    result = uvloop.run(run(args, bodies, accepted))
    if accepted is not None:
        with Path(args.record).open("w", encoding="utf-8") as out:
            for sent_at, body in accepted:
                out.write(json.dumps({"sent": sent_at, "body": body.decode()}) + "\n")
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
