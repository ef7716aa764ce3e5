"""
Live races on one juego-web process: 200 private rooms of 4 scripted racers each (50 with
C{--quick}), over real WebSockets (C{GET /api/carrera/ws}), the rooms owned by juego-dist
(real processes: L{bench.webstack.stack}). Once a room's countdown ends, each racer sends
its progress 10 times a second (a letter at a time through the race's words, about 7 s);
every other racer of the room times the snapshot that shows it.

Figures: the progress broadcast latency (from a racer's send to another racer's receipt
of the room showing it: page -> web -> juego-dist -> web -> pages), p50 and p99; CPU per
racer (juego-web and juego-dist, CPU ms per racing second, from C{/proc/PID/stat}); and
memory per room (the growth of each process's resident set with the rooms and their
sockets open, over the rooms). The racers run in separate asyncio client processes, 50
rooms each (a room's racers in one process, whose clock times them).

    python -m bench.races [--quick] [--rooms N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.httpload import openSocket, percentile
from bench.webstack import memory, prepareDatabase, removeWorkDirectory, stack, workDirectory
from juego.game import longitud
from tests.processes import CHECKOUT, serviceEnvironment

ROOMS, QUICK_ROOMS, RACERS = 200, 50, 4
#: Rooms each client process plays (one asyncio process cannot keep up with more: at 10
#: updates a second, 50 rooms are 2,000 sends and 6,000 receipts a second).
ROOMS_PER_CLIENT = 50
#: Progress messages a second, each racer.
RATE = 10.0
TARGET_P99_MS = 50.0
PATH = "/api/carrera/ws"
TICK = os.sysconf("SC_CLK_TCK")


# -- the client process ----------------------------------------------------------------


def frame(text: str) -> bytes:
    payload = text.encode("utf-8")
    mask = os.urandom(4)
    n = len(payload)
    header = (
        struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
    )
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def receive(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    payload = await reader.readexactly(n)
    if head[0] & 0x0F != 0x1:
        return None
    message: dict[str, Any] = json.loads(payload)
    return message


class Racer:
    def __init__(self, cookie: str, room: Room) -> None:
        self.cookie = cookie
        self.room = room
        self.id: int | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.partida = asyncio.get_running_loop().create_future()
        self.sala: dict[str, Any] | None = None

    def say(self, message: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write(frame(json.dumps(message)))

    async def listen(self, stats: Stats) -> None:
        assert self.reader is not None
        try:
            while True:
                message = await receive(self.reader)
                if message is None:
                    continue
                now = time.perf_counter()
                if message["tipo"] == "sala":
                    self.id = message["yo"]
                    self.sala = message["sala"]
                    self.room.changed(self)
                    stats.saw(self, message["sala"], now)
                elif message["tipo"] == "partida" and not self.partida.done():
                    self.partida.set_result(message["partida"])
                elif message["tipo"] == "error":
                    stats.errors[message.get("code", "?")] = (
                        stats.errors.get(message.get("code", "?"), 0) + 1
                    )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass


class Room:
    def __init__(self) -> None:
        self.racers: list[Racer] = []
        self.code: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.full: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def changed(self, racer: Racer) -> None:
        assert racer.sala is not None
        if not self.code.done():
            self.code.set_result(racer.sala["codigo"])
        if len(racer.sala["corredores"]) == RACERS and not self.full.done():
            self.full.set_result(None)


class Stats:
    def __init__(self) -> None:
        self.sent: dict[tuple[int, float], float] = {}
        self.seen: set[tuple[int, int, float]] = set()
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.messages = 0

    def saw(self, racer: Racer, sala: dict[str, Any], now: float) -> None:
        self.messages += 1
        for other in sala["corredores"]:
            key = (other["id"], other["progreso"])
            if other["id"] == racer.id or key not in self.sent:
                continue
            seen = (racer.id or 0, *key)
            if seen not in self.seen:
                self.seen.add(seen)
                self.latencies.append((now - self.sent[key]) * 1000)


def steps(words: list[str]) -> list[tuple[int, int, float]]:
    """
    The progress a racer reports, a letter at a time: (palabra, letras, progreso).
    """
    lengths = [longitud(w) for w in words]
    total = sum(lengths)
    out, before = [], 0
    for i, n in enumerate(lengths):
        for k in range(1, n):
            out.append((i, k, round(round(100 * (before + k) / total, 1), 1)))
        before += n
        out.append((i + 1, 0, round(round(100 * before / total, 1), 1)))
    return out


async def race(racer: Racer, stats: Stats) -> None:
    partida = await racer.partida
    assert racer.id is not None
    for palabra, letras, progreso in steps(partida["palabras"]):
        stats.sent.setdefault((racer.id, progreso), time.perf_counter())
        racer.say({"tipo": "progreso", "palabra": palabra, "letras": letras})
        await asyncio.sleep(1 / RATE)


async def client(port: int, cookies: list[str]) -> None:
    gate = asyncio.Semaphore(64)
    stats = Stats()
    rooms = [Room() for _ in range(len(cookies) // RACERS)]
    racers = [Racer(c, rooms[i // RACERS]) for i, c in enumerate(cookies)]
    listeners = []

    async def connect(racer: Racer) -> None:
        racer.reader, racer.writer = await openSocket(port, PATH, racer.cookie, None, gate)
        listeners.append(asyncio.ensure_future(racer.listen(stats)))

    await asyncio.gather(*(connect(r) for r in racers))
    for room in rooms:
        room.racers = [r for r in racers if r.room is room]
        room.racers[0].say({"tipo": "crear", "idioma": "es"})
    for room in rooms:
        code = await room.code
        for guest in room.racers[1:]:
            guest.say({"tipo": "unirse", "sala": code})
    for room in rooms:
        await room.full
        room.racers[0].say({"tipo": "empezar"})
    await asyncio.gather(*(r.partida for r in racers))
    print(json.dumps({"racing": True}), flush=True)
    started = time.perf_counter()
    await asyncio.gather(*(race(r, stats) for r in racers))
    await asyncio.sleep(0.5)  # the last broadcasts
    seconds = time.perf_counter() - started
    for listener in listeners:
        listener.cancel()
    for racer in racers:
        assert racer.writer is not None
        racer.writer.transport.abort()
    print(
        json.dumps(
            {
                "done": True,
                "seconds": round(seconds, 2),
                "latencies": [round(x, 2) for x in stats.latencies],
                "errors": stats.errors,
                "messages": stats.messages,
            }
        ),
        flush=True,
    )


# -- the benchmark -----------------------------------------------------------------------


def cpu(pid: int) -> float:
    """
    A process's CPU seconds so far (user + system).
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run(quick: bool = False, rooms: int | None = None) -> list[dict[str, Any]]:
    n = rooms or (QUICK_ROOMS if quick else ROOMS)
    work = workDirectory()
    try:
        url, made = prepareDatabase(work / "juego.db", n * RACERS)
        cookies = [p["cookie"] for p in made]
        with stack(work, url) as services:
            pids = services.pids()
            before = {name: memory(pids[name])["VmRSS"] for name in ("web", "dist")}
            processes = []
            for k in range(0, n, ROOMS_PER_CLIENT):
                plan = work / f"races-{k}.json"
                plan.write_text(json.dumps(cookies[k * RACERS : (k + ROOMS_PER_CLIENT) * RACERS]))
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bench.races", "client",
                         str(services.webPort), str(plan)],
                        env=serviceEnvironment(),
                        cwd=CHECKOUT,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )  # fmt: skip
            try:
                for process in processes:
                    assert process.stdout is not None
                    if not json.loads(process.stdout.readline() or "{}").get("racing"):
                        raise RuntimeError(f"the racers did not start ({process.wait()})")
                during = {name: memory(pids[name])["VmRSS"] for name in ("web", "dist")}
                cpuStart = {name: cpu(pids[name]) for name in ("web", "dist")}
                started = time.perf_counter()
                reports = [json.loads(p.stdout.readline() or "{}") for p in processes]  # type: ignore[union-attr]
                racing = time.perf_counter() - started
                cpuEnd = {name: cpu(pids[name]) for name in ("web", "dist")}
            finally:
                for process in processes:
                    if process.poll() is None:
                        process.kill()
                    process.wait()
    finally:
        removeWorkDirectory(work)
    if not all(r.get("done") for r in reports):
        raise RuntimeError("the racers did not finish")
    ordered = sorted(x for r in reports for x in r["latencies"])
    errors: dict[str, int] = {}
    for r in reports:
        for code, count in r["errors"].items():
            errors[code] = errors.get(code, 0) + count
    report = {
        "seconds": racing,
        "samples": len(ordered),
        "p50": round(percentile(ordered, 50), 2),
        "p99": round(percentile(ordered, 99), 2),
        "max": round(ordered[-1], 2) if ordered else None,
        "errors": errors,
    }
    racerSeconds = n * RACERS * report["seconds"]
    perRacer = {k: (cpuEnd[k] - cpuStart[k]) * 1000 / racerSeconds for k in cpuEnd}
    perRoom = {k: (during[k] - before[k]) / n / 1024 for k in during}
    detail = f"{n} rooms × {RACERS} racers, {RATE:g} updates/s each, {report['samples']} samples"
    return [
        {
            "name": "races: progress broadcast p50",
            "value": f"{report['p50']} ms",
            "target": "",
            "detail": detail,
        },
        {
            "name": "races: progress broadcast p99",
            "value": f"{report['p99']} ms",
            "target": f"< {TARGET_P99_MS:g} ms",
            "detail": f"max {report['max']} ms; errors {report['errors'] or 'none'}",
        },
        {
            "name": "races: CPU per racer",
            "value": f"web {perRacer['web']:.2f} · dist {perRacer['dist']:.2f} ms/s",
            "target": "",
            "detail": "CPU ms per racing second; 1000 ms/s is one core",
        },
        {
            "name": "races: memory per room",
            "value": f"web {perRoom['web']:.1f} · dist {perRoom['dist']:.1f} KiB",
            "target": "",
            "detail": f"{RACERS} sockets and the room, resident-set growth over {n} rooms",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rooms", type=int)
    parser.add_argument("mode", nargs="*")
    args = parser.parse_args(argv)
    if args.mode and args.mode[0] == "client":
        port, plan = int(args.mode[1]), Path(args.mode[2])
        asyncio.run(client(port, json.loads(plan.read_text())))
        return 0
    for row in run(args.quick, args.rooms):
        print(f"{row['name']}: {row['value']}  {row['target']}  ({row['detail']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
