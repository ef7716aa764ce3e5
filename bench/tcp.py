"""
Durable C{save_score} throughput over juego-tcp (SQLite, group commit) beside a bare
Twisted JSON-lines server that does no work, same machine, same load generator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import insert

from juego.model import utcnow
from juego.store import schema as s
from juego.store.migrate import upgrade
from juego.store.pool import makeEngine
from tests.processes import CHECKOUT, ServiceProcess, freePort, serviceEnvironment, waitForPort

USERS = 1000


def prepareDatabase(path: Path, users: int = USERS) -> str:
    url = f"sqlite:///{path}"
    engine = makeEngine(url)
    upgrade(engine)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(s.users),
            [
                {
                    "nombre": f"u{i}",
                    "email": f"u{i}@bench",
                    "password_hash": "x",
                    "es_admin": False,
                    "bio": "",
                    "fecha_registro": now,
                }
                for i in range(1, users + 1)
            ],
        )
        conn.execute(insert(s.user_aggregates), [{"user_id": i} for i in range(1, users + 1)])
        conn.execute(s.totals.update().values(usuarios=users))
    engine.dispose()
    return url


def load(port: int, seconds: float, keyed: bool = False, database: str | None = None) -> dict:
    command = [
        sys.executable,
        "-m",
        "bench.load",
        str(port),
        "--seconds",
        str(seconds),
        "--connections",
        "16",
        "--in-flight",
        "8",
        "--users",
        str(USERS),
    ]
    if keyed:
        command.append("--keyed")
    if database:
        command += ["--database", database]
    # Like the service it measures, the load has no JUEGO_SERVICE_SECRET: it finds the
    # secret the service generated beside the database.
    env = serviceEnvironment(without=("JUEGO_SERVICE_SECRET",))
    out = subprocess.run(command, env=env, cwd=CHECKOUT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def run(quick: bool = False) -> list[dict]:
    seconds = 2.0 if quick else 5.0
    work = Path(tempfile.mkdtemp(prefix="juego-bench-"))
    url = prepareDatabase(work / "juego.db")

    barePort = freePort()
    bare = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", str(barePort)], env=serviceEnvironment(), cwd=CHECKOUT
    )
    try:
        waitForPort(barePort, bare)
        reference = load(barePort, seconds)
    finally:
        bare.terminate()
        bare.wait()

    port = freePort()
    service = ServiceProcess(
        "juego-tcp",
        ["--listen", f"tcp:{port}:interface=127.0.0.1", "--database", url],
        str(work),
        port,
        without=("JUEGO_SERVICE_SECRET", "JUEGO_DATABASE_URL"),
    ).start()
    try:
        # juego-tcp made its install's secret beside the database: the load authenticates.
        measured = load(port, seconds, keyed=True, database=url)
    finally:
        service.stop()
    if measured["errors"] or not measured["ok"]:
        # A refused save (say, a failed handshake) must not pass for throughput.
        raise RuntimeError(f"juego-tcp refused saves under load: {measured}")
    ratio = measured["rate"] / reference["rate"] if reference["rate"] else 0.0
    if os.environ.get("JUEGO_BENCH_KEEP") is None:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()
    return [
        {
            "name": "save_score durable/s (16 conn x 8 in flight, SQLite)",
            "value": measured["rate"],
            "reference": reference["rate"],
            "ratio": round(ratio, 3),
            "target": "ratio >= 0.5",
            "detail": f"p50 {measured['p50_ms']} ms, p99 {measured['p99_ms']} ms; bare p50 {reference['p50_ms']} ms; errors {measured['errors']}",
        }
    ]


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
