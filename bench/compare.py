"""
Before/after of a code change on a busy machine: CPU per request rather than requests
per second. A shared machine moves throughput a lot from run to run; the CPU a process
spends per request moves much less. Each row runs the service and its reference (as
C{make bench} does) and prints, per round, both rates and both CPU costs per request.

    python -m bench.compare stats [--rounds 3]   # GET /api/stats/global vs bare Klein
    python -m bench.compare tcp [--rounds 2]     # durable save_score vs the bare server
    python -m bench.compare log                  # one access line through the log observer
    python -m bench.compare batch [--size 128]   # juego-tcp's batch (_saveBatch), in process
    python -m bench.compare protocol             # juego-tcp's reactor side per save, in process

To compare with an earlier commit, run this file against that commit's tree::

    git archive REV | tar -x -C /tmp/before
    (cd /tmp/before && PYTHONPATH=. python /path/to/bench/compare.py stats)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stats(rounds: int) -> None:
    from bench.web import _measured, _statsLoad
    from bench.webstack import (
        bareKlein,
        cpuSeconds,
        prepareDatabase,
        raiseFileLimit,
        removeWorkDirectory,
        stack,
        workDirectory,
    )

    raiseFileLimit()
    work = workDirectory()
    url, _ = prepareDatabase(work / "juego.db", 8, 0)
    with stack(work, url) as services:
        services.get("/api/stats/global")
        live = json.loads(services.get("/api/stats/global")[1])["stats"]
        with bareKlein(work, live) as (barePort, barePID):
            for r in range(rounds):
                out = []
                for side, port, pid in (
                    ("web", services.webPort, services.webPID),
                    ("bare", barePort, barePID),
                ):
                    before = cpuSeconds(pid)
                    result, _, _ = _measured(
                        {side: pid}, lambda port=port: _statsLoad(port, 3.0, None), 2.0
                    )
                    used = (cpuSeconds(pid) - before) / result["requests"] * 1e6
                    out.append((result["rate"], used, result["others"]))
                (rate, cpu, others), (bareRate, bareCPU, bareOthers) = out
                print(
                    f"round {r}: juego-web {rate}/s {cpu:.0f} µs CPU/req | bare {bareRate}/s "
                    f"{bareCPU:.0f} µs CPU/req | ratio {rate / bareRate:.3f}, CPU ratio "
                    f"{bareCPU / cpu:.3f} | others {others} / {bareOthers} cores",
                    flush=True,
                )
    removeWorkDirectory(work)


def tcp(rounds: int) -> None:
    from bench.tcp import load, prepareDatabase
    from bench.webstack import cpuSeconds
    from tests.processes import (
        CHECKOUT,
        ServiceProcess,
        freePort,
        serviceEnvironment,
        waitForPort,
    )

    for r in range(rounds):
        work = Path(tempfile.mkdtemp(prefix="juego-compare-"))
        url = prepareDatabase(work / "juego.db")
        port = freePort()
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.bare", str(port)], env=serviceEnvironment(), cwd=CHECKOUT
        )
        waitForPort(port, bare)
        before = cpuSeconds(bare.pid)
        reference = load(port, 4.0)
        bareCPU = (cpuSeconds(bare.pid) - before) / reference["requests"] * 1e6
        bare.terminate()
        bare.wait()
        port = freePort()
        service = ServiceProcess(
            "juego-tcp",
            ["--listen", f"tcp:{port}:interface=127.0.0.1", "--database", url],
            str(work),
            port,
        ).start()
        assert service.process is not None
        before = cpuSeconds(service.process.pid)
        measured = load(port, 4.0, keyed=True)
        cpu = (cpuSeconds(service.process.pid) - before) / measured["requests"] * 1e6
        service.stop()
        print(
            f"round {r}: juego-tcp {measured['rate']}/s {cpu:.0f} µs CPU/save | bare "
            f"{reference['rate']}/s {bareCPU:.0f} µs CPU/req | ratio "
            f"{measured['rate'] / reference['rate']:.3f}, CPU ratio {bareCPU / cpu:.3f}",
            flush=True,
        )


def log() -> None:
    """
    CPU per access line, through Twisted's classic observer and through juego's (when
    this tree has one), each to a log file as twistd sets them up.
    """
    from twisted.logger import Logger, LogPublisher, textFileLogObserver
    from twisted.python.logfile import LogFile

    observers = {"twisted": lambda path: textFileLogObserver(LogFile.fromFullPath(path))}
    try:
        from juego.logging import textLogger

        observers["juego"] = lambda path: textLogger({"logfile": path})
    except ImportError:
        pass
    work = Path(tempfile.mkdtemp(prefix="juego-compare-"))
    for name, make in observers.items():
        log = Logger(
            namespace="juego.web.tracing.RequestTracing",
            observer=LogPublisher(make(str(work / f"{name}.log"))),
        )
        n = 20_000
        started = time.process_time()
        for _ in range(n):
            log.info(
                "{method} {path} {status} {duration_ms:.1f} ms rid={rid} client={client}",
                method="GET",
                path="/api/stats/global",
                status=200,
                duration_ms=1.2345,
                rid="0123456789abcdef0123456789abcdef",
                client="127.0.0.1",
            )
        print(f"{name}: {(time.process_time() - started) / n * 1e6:.1f} µs CPU per line")


def batch(size: int, batches: int) -> None:
    """
    CPU of juego-tcp's batch (C{_saveBatch} in its write transaction, commit included)
    on batches of C{size} random keyed saves over 1,000 players.
    """
    from bench.tcp import prepareDatabase
    from juego.model import utcnow
    from juego.store.pool import makeEngine
    from juego.store.scores import SaveRequest, _saveBatch

    work = Path(tempfile.mkdtemp(prefix="juego-compare-"))
    engine = makeEngine(prepareDatabase(work / "juego.db", 1000)).execution_options(
        juego_begin="BEGIN IMMEDIATE"
    )
    rng = random.Random(1)
    serial = 0

    def one() -> None:
        nonlocal serial
        requests = []
        for _ in range(size):
            serial += 1
            requests.append(SaveRequest(rng.randint(1, 1000), rng.randint(0, 5000), f"k-{serial}"))
        with engine.begin() as conn:
            _saveBatch(conn, requests, utcnow())

    for _ in range(20):
        one()
    before = os.times()
    for _ in range(batches):
        one()
    after = os.times()
    user = (after.user - before.user) / batches * 1e3
    system = (after.system - before.system) / batches * 1e3
    print(
        f"batch of {size}: {user + system:.2f} ms CPU ({user:.2f} user + {system:.2f} system), "
        f"{(user + system) / size * 1e3:.1f} µs per save"
    )


def protocol() -> None:
    """
    CPU of juego-tcp's reactor side per C{save_score} (line protocol, request checks,
    group-commit writer, reply, metrics) over a store that answers at once.
    """
    from twisted.internet.defer import succeed
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    from juego.metrics import Metrics
    from juego.model import SaveResult
    from juego.scores import GroupCommitWriter, ScoreService
    from juego.wire import WireFactory
    from juego.wire.observe import RequestLog

    class Instant:
        def saveBatch(self, requests):  # type: ignore[no-untyped-def]
            return succeed([SaveResult(i, False, r.puntaje) for i, r in enumerate(requests)])

    metrics = Metrics()
    writer = GroupCommitWriter(Instant(), metrics=metrics)  # type: ignore[arg-type]
    factory = WireFactory(
        ScoreService(writer).handlers(), None, Clock(), observer=RequestLog("tcp", metrics)
    )
    connection = factory.buildProtocol(None)
    transport = StringTransport()
    connection.makeConnection(transport)
    lines = [
        json.dumps(
            {
                "action": "save_score",
                "user_id": i % 1000 + 1,
                "puntaje": i % 5000,
                "idempotency_key": f"k-{i}",
            }
        ).encode()
        + b"\n"
        for i in range(20_000)
    ]
    for _ in range(2):  # the first round warms up
        started = time.process_time()
        for line in lines:
            connection.dataReceived(line)
            transport.clear()
    cpu = (time.process_time() - started) / len(lines) * 1e6
    print(f"reactor side: {cpu:.1f} µs CPU per save")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("what", choices=["stats", "tcp", "log", "batch", "protocol"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args(argv)
    if args.what == "stats":
        stats(args.rounds)
    elif args.what == "tcp":
        tcp(args.rounds)
    elif args.what == "log":
        log()
    elif args.what == "protocol":
        protocol()
    else:
        batch(args.size, args.batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
