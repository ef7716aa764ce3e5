"""
Verified end-to-end saves (C{POST /api/guardar_puntaje}) per deployment, and the seed's
design beside them, all driven by the same load generator (L{bench.httpload}) in the same
run: 64 players, one keep-alive connection each, one save in flight each, every save a
realistic 30-word game (L{bench.games}) of its own partida.

  - juego as three processes (juego-tcp, juego-dist, juego-web) on SQLite;
  - C{twistd juego}: the three services in one process, on SQLite;
  - juego as three processes on PostgreSQL (a scratch database; the row is skipped when
    no server answers at C{JUEGO_BENCH_POSTGRES_URL});
  - the seed's design (L{bench.seed_reference}): Flask's threaded development server,
    a thread per client, a SQLite commit per save, and no verification: the client's
    C{puntaje} is taken on trust.

Every deployment gets the same players, partidas and bodies (loaded into a fresh
database each). After each run the stored rows are counted: one score per accepted save.

    python -m bench.saves [--quick] [--only seed sqlite one postgresql]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import seed_reference
from bench.web import _measured
from bench.webstack import (
    BACKLOG,
    OUT,
    SECRET,
    Stack,
    counts,
    loadDatabase,
    makePlayers,
    raiseFileLimit,
    removeWorkDirectory,
    settle,
    workDirectory,
)
from tests.processes import CHECKOUT, ServiceProcess, freePort, serviceEnvironment, waitForPort

PLAYERS = 64
#: Saves per second the partidas are sized for (with 30 % room): above every deployment
#: measured so far, so that runs end by time, not by running out.
EXPECTED_RATE = 500
POSTGRES_URL = os.environ.get(
    "JUEGO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
KINDS = ("seed", "sqlite", "one", "postgresql")


def _seconds(quick: bool) -> float:
    return 3.0 if quick else 8.0


def _plan(path: Path, players: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps(
            {
                "path": "/api/guardar_puntaje",
                "players": [{"cookie": p["cookie"], "bodies": p["bodies"]} for p in players],
            }
        ),
        encoding="utf-8",
    )
    return path


def _post(port: int, plan: Path, seconds: float, samples: Path | None = None) -> dict[str, Any]:
    from bench.webstack import httpload

    args = ["post", str(port), "--plan", str(plan), "--seconds", str(seconds)]
    if samples is not None:
        args += ["--samples", str(samples)]
    return httpload(*args)


# -- deployments -----------------------------------------------------------------------


class OneProcess:
    """
    C{twistd juego}: the three services in one process.
    """

    def __init__(self, work: Path, url: str) -> None:
        self.webPort, tcpPort, distPort = freePort(), freePort(), freePort()
        listen = "tcp:{}:interface=127.0.0.1"
        self.service = ServiceProcess(
            "juego",
            [
                "--web",
                listen.format(self.webPort) + f":backlog={BACKLOG}",
                "--tcp",
                listen.format(tcpPort),
                "--dist",
                listen.format(distPort),
                "--database",
                url,
            ],
            str(work),
            self.webPort,
            # A benchmark plays far faster than a person: no per-node rate limits.
            env={"JUEGO_RATE_LIMITS": "off", "JUEGO_SERVICE_SECRET": SECRET},
        )

    def start(self) -> OneProcess:
        self.service.start()
        return self

    def stop(self) -> None:
        self.service.stop()

    def pids(self) -> dict[str, int]:
        assert self.service.process is not None
        return {"juego": self.service.process.pid}


@contextmanager
def running(deployment: Any) -> Iterator[Any]:
    try:
        yield deployment.start()
    finally:
        deployment.stop()


@contextmanager
def postgresDatabase() -> Iterator[str | None]:
    """
    A scratch PostgreSQL database for one run (dropped after), or L{None} without a
    server.
    """
    name = f"juego_bench_{secrets.token_hex(4)}"
    try:
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:
        print(f"no PostgreSQL at {POSTGRES_URL}: {e}", file=sys.stderr)
        yield None
        return
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def seedDeployment(work: Path, players: int) -> Iterator[tuple[int, dict[str, int], str]]:
    """
    The seed's three servers as processes: the web port, the pids, the secret.
    """
    database = work / "usuarios.db"
    seed_reference.prepareDatabase(database, players)
    secret = secrets.token_hex(16)
    webPort, tcpPort, distPort = freePort(), freePort(), freePort()
    command = [sys.executable, "-m", "bench.seed_reference"]
    processes = {}
    try:
        for role, port, extra in (
            ("tcp", tcpPort, []),
            ("dist", distPort, []),
            ("web", webPort, ["--tcp", str(tcpPort), "--dist", str(distPort), "--secret", secret]),
        ):
            processes[role] = subprocess.Popen(
                [*command, role, str(port), str(database), *extra],
                env=serviceEnvironment(),
                cwd=CHECKOUT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            waitForPort(port, processes[role])
        yield webPort, {f"seed-{r}": p.pid for r, p in processes.items()}, secret
    finally:
        for process in processes.values():
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def seedCount(work: Path) -> int:
    import sqlite3

    with sqlite3.connect(work / "usuarios.db") as db:
        return db.execute("SELECT count(*) FROM puntajes").fetchone()[0]


# -- the run ---------------------------------------------------------------------------


def _measure(
    pids: dict[str, int], port: int, plan: Path, seconds: float, quietWait: float, samples: Path
) -> tuple[dict[str, Any], str]:
    result, _, note = _measured(pids, lambda: _post(port, plan, seconds, samples), quietWait)
    return result, note


def run(quick: bool = False, only: list[str] | None = None) -> list[dict[str, Any]]:
    raiseFileLimit()
    OUT.mkdir(parents=True, exist_ok=True)
    seconds = _seconds(quick)
    quietWait = 5.0 if quick else 15.0
    perPlayer = math.ceil(EXPECTED_RATE * seconds * 1.3 / PLAYERS)
    kinds = [k for k in KINDS if not only or k in only]
    started = time.perf_counter()
    rows, players = makePlayers(PLAYERS, perPlayer)
    keystrokes = sum(len(e["teclas"]) for e in json.loads(players[0]["bodies"][0])["eventos"])
    setup = time.perf_counter() - started
    results: dict[str, tuple[dict[str, Any], str]] = {}
    work = workDirectory()
    try:
        plan = _plan(work / "plan.json", players)
        if "seed" in kinds:
            with seedDeployment(work, PLAYERS) as (port, pids, secret):
                cookies = seed_reference.sessionCookies(secret, [p["id"] for p in players])
                seedPlan = _plan(
                    work / "seed-plan.json",
                    [dict(p, cookie=c) for p, c in zip(players, cookies, strict=True)],
                )
                result, note = _measure(
                    pids, port, seedPlan, seconds, quietWait, OUT / "latency-seed.json"
                )
                settle(0.5)
                result["stored"] = f"{seedCount(work)} scores stored"
                results["seed"] = (result, note)
        for kind in ("sqlite", "one", "postgresql"):
            if kind not in kinds:
                continue
            with postgresDatabase() if kind == "postgresql" else _sqliteFile(work, kind) as url:
                if url is None:
                    continue
                loadDatabase(url, rows)
                deployment = OneProcess(work, url) if kind == "one" else Stack(work, url)
                samples = OUT / (
                    "latency-guardar_puntaje.json" if kind == "sqlite" else f"latency-{kind}.json"
                )
                with running(deployment) as services:
                    result, note = _measure(
                        services.pids(), services.webPort, plan, seconds, quietWait, samples
                    )
                    settle(1.5)  # record notifications and outbox rows finish
                stored = counts(url)
                result["stored"] = (
                    f"stored: {stored['scores']} scores, {stored['guardadas']} partidas guardadas, "
                    f"{stored['outbox']} outbox rows left"
                )
                results[kind] = (result, note)
    finally:
        removeWorkDirectory(work)
    return _rows(results, keystrokes, setup)


@contextmanager
def _sqliteFile(work: Path, kind: str) -> Iterator[str]:
    yield f"sqlite:///{work / f'juego-{kind}.db'}"


def _rate(result: dict[str, Any]) -> float:
    return round(result["statuses"].get("200", 0) / result["seconds"], 1)


def _detail(result: dict[str, Any], note: str) -> str:
    return (
        f"p50 {result['p50_ms']} / p99 {result['p99_ms']} ms; statuses {json.dumps(result['statuses'])}; "
        f"{result['stored']}; CPU cores: {note}"
        + (f"; first errors {result['errors'][:2]}" if result.get("errors") else "")
    )


DEPLOYMENTS = {
    "sqlite": "3 processes, SQLite",
    "one": "twistd juego (1 process), SQLite",
    "postgresql": "3 processes, PostgreSQL",
}
NAMES = {kind: f"verified saves/s, {where}" for kind, where in DEPLOYMENTS.items()}


def _rows(
    results: dict[str, tuple[dict[str, Any], str]], keystrokes: int, setup: float
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    load = f"{PLAYERS} players, 30-word games"
    for kind in ("sqlite", "one", "postgresql"):
        if kind not in results:
            out.append({"name": NAMES[kind], "value": "skipped", "detail": "not run"})
            continue
        result, note = results[kind]
        out.append(
            {
                "name": f"{NAMES[kind]} ({load})",
                "value": _rate(result),
                "target": ">= 1500/s" if kind == "sqlite" else "",
                "detail": _detail(result, note),
            }
        )
        if kind == "sqlite":
            out.append(
                {
                    "name": "verified save p50 / p99 latency (ms), 3 processes, SQLite",
                    "value": f"{result['p50_ms']} / {result['p99_ms']}",
                    "target": "p99 <= 100 ms",
                    "detail": f"p90 {result['p90_ms']} ms, max {result['max_ms']} ms; "
                    f"one game: {keystrokes} keystrokes; setup {setup:.1f} s",
                }
            )
    if "seed" in results:
        seed, note = results["seed"]
        out.append(
            {
                "name": f"seed design: unverified saves/s (Flask threaded, thread per client, sqlite3 commit per save; {load})",
                "value": _rate(seed),
                "detail": _detail(seed, note),
            }
        )
        for kind in ("sqlite", "one", "postgresql"):
            if kind in results and _rate(seed):
                out.append(
                    {
                        "name": f"verified saves ({DEPLOYMENTS[kind]}) vs the seed's unverified saves",
                        "value": _rate(results[kind][0]),
                        "reference": _rate(seed),
                        "ratio": round(_rate(results[kind][0]) / _rate(seed), 3),
                        "detail": "same players, bodies and load generator, same run",
                    }
                )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.saves", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", choices=KINDS)
    args = parser.parse_args(argv)
    for row in run(quick=args.quick, only=args.only):
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
