"""
Idle WebSockets held by one juego-web process: C{GET /api/notificaciones/ws} upgraded
for N signed-in players' sockets (N = 19,900 full, 2,000 quick; at most
L{juego.web.live.MAX_PER_USER} per player, so N/8 players), opened from separate client
processes (L{bench.httpload} C{ws}), each from its own loopback address. Memory per
connection = the growth of the process's resident set (C{VmRSS} in C{/proc/PID/status})
over N, after a warm-up; beside it the same for a bare Twisted WebSocket resource in a
bare Klein app (L{bench.bare_klein}), measured in the same run.

Why 19,900 and not 20,000: a process here may not open more than 20,000 files (the hard
C{RLIMIT_NOFILE} of this machine; raising it needs a capability the sandbox lacks), and
the web process needs a few dozen for itself. The 20k figure is projected from the
measured growth per connection.

    python -m bench.ws [--quick] [--connections N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.webstack import (
    bareKlein,
    memory,
    prepareDatabase,
    raiseFileLimit,
    removeWorkDirectory,
    settle,
    stack,
    workDirectory,
)
from juego.web.live import MAX_PER_USER
from tests.processes import CHECKOUT, serviceEnvironment

FULL = 19_900
QUICK = 2_000
#: Sockets per client process (each process stays well under its own file limit).
PER_CLIENT = 5_000
WARMUP = 200
GIB = 1 << 30
#: Each client process connects from its own loopback address (127.0.N.1), so that no
#: two share a range of ephemeral ports.
_sources = itertools.count(1)
TARGET_CONNECTIONS = 20_000


class Clients:
    """
    Client processes holding sockets open until told to let go.
    """

    def __init__(self, port: int, path: str, cookies: list[str], work: Path, tag: str) -> None:
        self.processes: list[subprocess.Popen] = []
        chunks = math.ceil(len(cookies) / PER_CLIENT)
        for k in range(chunks):
            plan = work / f"ws-{tag}-{k}.json"
            plan.write_text(
                json.dumps(
                    {"path": path, "cookies": cookies[k * PER_CLIENT : (k + 1) * PER_CLIENT]}
                )
            )
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.httpload",
                        "ws",
                        str(port),
                        "--plan",
                        str(plan),
                        "--source",
                        f"127.0.{next(_sources)}.1",
                        "--parallel",
                        "64",
                    ],
                    env=serviceEnvironment(),
                    cwd=CHECKOUT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )

    def ready(self, timeout: float = 240.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        opened, failed, failures, slowest = 0, 0, {}, 0.0
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"a WebSocket client exited with {process.wait()}")
            report = json.loads(line)
            opened += report["ready"]
            failed += report["failed"]
            failures.update(report["failures"])
            slowest = max(slowest, report["seconds"])
            if time.monotonic() > deadline:
                raise RuntimeError("WebSocket clients too slow")
        return {"opened": opened, "failed": failed, "failures": failures, "seconds": slowest}

    def release(self) -> int:
        """
        Let go of every socket; how many were still open just before.
        """
        held = 0
        for process in self.processes:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("\n")
            process.stdin.flush()
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            held += json.loads(line)["held"] if line else 0
            process.wait(30)
        return held

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def measure(
    pid: int, port: int, path: str, cookies: list[str], warmCookies: list[str], work: Path, tag: str
) -> dict[str, Any]:
    """
    Warm up with a few sockets (opened and closed), then hold C{cookies}' sockets and
    measure the server's growth.
    """
    warm = Clients(port, path, warmCookies, work, tag + "w")
    try:
        warm.ready()
        warm.release()
    finally:
        warm.kill()
    settle(1.0)
    before = memory(pid)
    clients = Clients(port, path, cookies, work, tag)
    try:
        opened = clients.ready()
        settle(1.0)
        after = memory(pid)
        held = clients.release()
    finally:
        clients.kill()
    grown = after["VmRSS"] - before["VmRSS"]
    return {
        **opened,
        "held": held,
        "before": before,
        "after": after,
        "per_connection": grown / opened["opened"] if opened["opened"] else 0.0,
    }


def run(quick: bool = False, connections: int | None = None) -> list[dict[str, Any]]:
    soft, _ = raiseFileLimit()
    n = connections or (QUICK if quick else FULL)
    if n + 100 > soft:
        n = soft - 100
        print(
            f"bench.ws: only {soft} open files allowed here: measuring {n} sockets", file=sys.stderr
        )
    players = math.ceil(n / MAX_PER_USER) + math.ceil(WARMUP / MAX_PER_USER)
    work = workDirectory()
    try:
        url, made = prepareDatabase(work / "juego.db", players)
        cookies = [p["cookie"] for p in made]
        # Each player's sockets up to the cap; the warm-up players come after them.
        main = [cookies[i // MAX_PER_USER] for i in range(n)]
        warm = [cookies[-1 - i // MAX_PER_USER] for i in range(WARMUP)]
        with stack(work, url) as services:
            juego = measure(
                services.webPID, services.webPort, "/api/notificaciones/ws", main, warm, work, "web"
            )
        with bareKlein(work) as (port, pid):
            bare = measure(pid, port, "/ws", [""] * n, [""] * WARMUP, work, "bare")
    finally:
        removeWorkDirectory(work)

    perConn, barePerConn = juego["per_connection"], bare["per_connection"]
    base = juego["before"]["VmRSS"]
    projected = base + perConn * TARGET_CONNECTIONS
    measuredAt = juego["opened"]

    def kib(x: float) -> float:
        return round(x / 1024, 1)

    def mib(x: float) -> float:
        return round(x / (1 << 20), 1)

    return [
        {
            "name": f"idle WebSocket KiB/connection ({measuredAt} held, 1 web process)",
            "value": kib(perConn),
            "reference": kib(barePerConn),
            "ratio": round(perConn / barePerConn, 2) if barePerConn else "",
            "target": f"20k < 1 GiB (<= {kib((GIB - base) / TARGET_CONNECTIONS)} KiB/conn)",
            "detail": (
                f"juego-web RSS {mib(base)} -> {mib(juego['after']['VmRSS'])} MiB, {juego['after']['fds']} fds, "
                f"{juego['held']}/{juego['opened']} still open at the end, {juego['failed']} failed, "
                f"opened in {juego['seconds']} s ({round(juego['opened'] / juego['seconds']) if juego['seconds'] else 0}/s); "
                f"bare Klein RSS {mib(bare['before']['VmRSS'])} -> {mib(bare['after']['VmRSS'])} MiB, "
                f"{bare['held']}/{bare['opened']} open; ratio = juego/bare (lower is better)"
                + (f"; failures {json.dumps(juego['failures'])[:200]}" if juego["failures"] else "")
            ),
        },
        {
            "name": f"idle WebSockets: juego-web RSS at {TARGET_CONNECTIONS // 1000}k (MiB)",
            "value": mib(projected)
            if measuredAt < TARGET_CONNECTIONS
            else mib(juego["after"]["VmRSS"]),
            "reference": mib(bare["before"]["VmRSS"] + barePerConn * TARGET_CONNECTIONS),
            "ratio": "",
            "target": "< 1024",
            "detail": (
                f"{'projected: ' if measuredAt < TARGET_CONNECTIONS else ''}RSS before sockets + "
                f"{TARGET_CONNECTIONS} x measured growth per socket; reference: bare Klein the same way"
            ),
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ws", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--connections", type=int, default=None)
    args = parser.parse_args(argv)
    for row in run(quick=args.quick, connections=args.connections):
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
