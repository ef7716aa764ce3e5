"""
An HTTP/1.1 load generator, run as its own process (so its CPU is not the server's):
raw HTTP over asyncio streams, keep-alive, one request in flight per connection (as wrk
does), every latency recorded.

    python -m bench.httpload get PORT --path /api/stats/global --connections 32 --seconds 5
    python -m bench.httpload post PORT --plan plan.json --seconds 5
    python -m bench.httpload ws PORT --plan plan.json [--source 127.0.0.2]

C{get} and C{post} print one JSON line: requests, statuses, rate, p50/p90/p99/max (ms);
with C{--samples FILE} every latency (ms) is also written there as a JSON list.

C{post} reads a plan C{{"path": ..., "players": [{"cookie": ..., "bodies": [...]}]}} and
gives each player one connection that posts its bodies in order (each body once) until
they or the time run out.

C{ws} reads C{{"path": ..., "cookies": [...]}}, opens one WebSocket per cookie (at most
C{--parallel} handshakes at a time), prints C{{"ready": ...}} once all are open, then
holds them, idle, until a line arrives on stdin; then it counts how many are still open,
prints C{{"held": ...}} and closes them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import socket
import sys
import time
from typing import Any

HOST = "127.0.0.1"


class HTTPError(Exception):
    pass


def raiseFileLimit() -> int:
    """
    Raise this process's open-file limit to its hard limit; the new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def readResponse(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """
    One response: its status and body (Content-Length or chunked).
    """
    status, body, _ = await readResponseAndClose(reader)
    return status, body


async def readResponseAndClose(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """
    One response: its status, its body (Content-Length or chunked), and whether the
    server closes the connection after it (C{Connection: close}, or HTTP/1.0).
    """
    head = await reader.readuntil(b"\r\n\r\n")
    statusLine, _, rest = head.partition(b"\r\n")
    status = int(statusLine.split(b" ", 2)[1])
    close = statusLine.startswith(b"HTTP/1.0")
    length = None
    chunked = False
    for line in rest.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent
                break
            parts.append(await reader.readexactly(size + 2))
        return status, b"".join(p[:-2] for p in parts), close
    if length is None:
        if status in (101, 204, 304):
            return status, b"", close
        raise HTTPError(f"response {status} without a length")
    return status, await reader.readexactly(length), close


def percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def summary(
    latencies: list[float], statuses: dict[str, int], elapsed: float, **extra: Any
) -> dict[str, Any]:
    ordered = sorted(latencies)
    total = sum(statuses.values())
    return {
        "requests": total,
        "statuses": statuses,
        "seconds": round(elapsed, 3),
        "rate": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(ordered, 50), 2),
        "p90_ms": round(percentile(ordered, 90), 2),
        "p99_ms": round(percentile(ordered, 99), 2),
        "max_ms": round(ordered[-1], 2) if ordered else 0.0,
        **extra,
    }


def _count(statuses: dict[str, int], key: object) -> None:
    statuses[str(key)] = statuses.get(str(key), 0) + 1


# -- GET ----------------------------------------------------------------------------


async def getLoop(
    port: int,
    request: bytes,
    warmupUntil: float,
    until: float,
    latencies: list[float],
    statuses: dict[str, int],
    sizes: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while True:
            started = time.perf_counter()
            if started >= until:
                break
            writer.write(request)
            status, body = await readResponse(reader)
            now = time.perf_counter()
            if started >= warmupUntil:
                latencies.append((now - started) * 1000)
                _count(statuses, status)
                if not sizes:
                    sizes.append(len(body))
    except (OSError, asyncio.IncompleteReadError, HTTPError) as e:
        _count(statuses, type(e).__name__)
    finally:
        writer.close()


async def runGet(args: argparse.Namespace) -> dict[str, Any]:
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: {HOST}:{args.port}\r\nAccept: application/json\r\n\r\n"
    ).encode("ascii")
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    sizes: list[int] = []
    start = time.perf_counter()
    warmupUntil = start + args.warmup
    until = warmupUntil + args.seconds
    await asyncio.gather(
        *(
            getLoop(args.port, request, warmupUntil, until, latencies, statuses, sizes)
            for _ in range(args.connections)
        )
    )
    elapsed = time.perf_counter() - warmupUntil
    return latencies, summary(
        latencies,
        statuses,
        elapsed,
        connections=args.connections,
        cpu_cores=round(time.process_time() / (time.perf_counter() - start), 2),
        body_bytes=sizes[0] if sizes else 0,
    )


# -- POST ---------------------------------------------------------------------------


async def postLoop(
    port: int,
    path: str,
    player: dict[str, Any],
    until: float,
    latencies: list[float],
    statuses: dict[str, int],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        f"Cookie: {player['cookie']}\r\n"
    ).encode("ascii")
    try:
        for body in player["bodies"]:
            started = time.perf_counter()
            if started >= until:
                break
            if reader.at_eof():
                # The server closed the connection after its last answer (a server
                # without keep-alive): the next request opens another, inside its time.
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
            data = body.encode("utf-8")
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(data) + data)
            status, reply, close = await readResponseAndClose(reader)
            if close:
                reader.feed_eof()
            latencies.append((time.perf_counter() - started) * 1000)
            _count(statuses, status)
            if status != 200 and len(errors) < 5:
                errors.append(reply.decode("utf-8", "replace")[:300])
    except (OSError, asyncio.IncompleteReadError, HTTPError) as e:
        _count(statuses, type(e).__name__)
    finally:
        writer.close()


async def runPost(args: argparse.Namespace) -> dict[str, Any]:
    with open(args.plan, encoding="utf-8") as f:
        plan = json.load(f)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    start = time.perf_counter()
    until = start + args.seconds
    await asyncio.gather(
        *(
            postLoop(args.port, plan["path"], player, until, latencies, statuses, errors)
            for player in plan["players"]
        )
    )
    elapsed = time.perf_counter() - start
    return latencies, summary(
        latencies,
        statuses,
        elapsed,
        connections=len(plan["players"]),
        errors=errors,
        cpu_cores=round(time.process_time() / elapsed, 2),
    )


# -- WebSocket ----------------------------------------------------------------------


async def openSocket(
    port: int, path: str, cookie: str, source: str | None, gate: asyncio.Semaphore, tries: int = 5
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        + (f"Cookie: {cookie}\r\n" if cookie else "")
        + "\r\n"
    ).encode("ascii")
    async with gate:
        for attempt in range(tries):
            try:
                reader, writer = await asyncio.open_connection(
                    HOST, port, local_addr=(source, 0) if source else None, limit=4096
                )
                break
            except OSError:
                if attempt == tries - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise HTTPError(head.split(b"\r\n", 1)[0].decode("latin-1"))
        # Small kernel buffers: we only ever expect a close frame.
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        return reader, writer


async def runWS(args: argparse.Namespace) -> None:
    limit = raiseFileLimit()
    with open(args.plan, encoding="utf-8") as f:
        plan = json.load(f)
    cookies = plan["cookies"]
    if len(cookies) + 50 > limit:
        raise SystemExit(f"{len(cookies)} sockets need more than this process's {limit} files")
    gate = asyncio.Semaphore(args.parallel)
    start = time.perf_counter()
    results = await asyncio.gather(
        *(openSocket(args.port, plan["path"], c, args.source, gate) for c in cookies),
        return_exceptions=True,
    )
    opened = [r for r in results if not isinstance(r, BaseException)]
    failures: dict[str, int] = {}
    for r in results:
        if isinstance(r, BaseException):
            _count(failures, f"{type(r).__name__}: {r}"[:120])
    print(
        json.dumps(
            {
                "ready": len(opened),
                "failed": sum(failures.values()),
                "failures": failures,
                "seconds": round(time.perf_counter() - start, 3),
            }
        ),
        flush=True,
    )
    # A socket is still held if nothing (no close frame, no EOF) has arrived on it.
    closed = 0

    async def watch(reader: asyncio.StreamReader) -> None:
        nonlocal closed
        try:
            await reader.read(1)
        except (OSError, asyncio.CancelledError):
            pass
        closed += 1

    watchers = [asyncio.ensure_future(watch(reader)) for reader, _ in opened]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    held = len(opened) - closed
    for w in watchers:
        w.cancel()
    for _, writer in opened:
        writer.transport.abort()
    print(json.dumps({"held": held, "opened": len(opened)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.httpload")
    sub = parser.add_subparsers(dest="mode", required=True)
    get = sub.add_parser("get")
    get.add_argument("port", type=int)
    get.add_argument("--path", default="/api/stats/global")
    get.add_argument("--connections", type=int, default=32)
    get.add_argument("--seconds", type=float, default=5.0)
    get.add_argument("--warmup", type=float, default=0.5)
    get.add_argument("--samples", default=None, help="write every latency (ms) here, as JSON")
    post = sub.add_parser("post")
    post.add_argument("port", type=int)
    post.add_argument("--plan", required=True)
    post.add_argument("--seconds", type=float, default=5.0)
    post.add_argument("--samples", default=None)
    ws = sub.add_parser("ws")
    ws.add_argument("port", type=int)
    ws.add_argument("--plan", required=True)
    ws.add_argument("--source", default=None, help="local address to connect from (127.x.y.z)")
    ws.add_argument("--parallel", type=int, default=100, help="handshakes at once")
    args = parser.parse_args(argv)
    if args.mode == "ws":
        asyncio.run(runWS(args))
        return 0
    latencies, result = asyncio.run(runGet(args) if args.mode == "get" else runPost(args))
    if args.samples:
        with open(args.samples, "w", encoding="utf-8") as f:
            json.dump([round(x, 3) for x in latencies], f)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
