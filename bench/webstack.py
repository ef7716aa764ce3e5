"""
What the web benchmarks share: a SQLite database with players, sessions and open
partidas written straight into it (through the real migrations), the three services as
real C{twistd} processes, the load generator (L{bench.httpload}) as another process, a
process's memory from C{/proc}, and py-spy profiles summarised.

Players are made in the database rather than through C{POST /api/registro}: argon2id
costs tens of milliseconds a player, which would dwarf the runs. Each gets a live session
(the SHA-256 of a random token, as L{juego.web.sessions} keeps it) and its token as the
cookie. Partidas are stored as C{POST /api/partidas} stores them (a random seed, open),
issued ten minutes ago so that a realistic game of 30 words (L{bench.games}, about 40 s
of typing) fits in the time since; the words are drawn from each seed as the server will.
"""

from __future__ import annotations

import collections
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from bench import games
from juego.game import draw_words
from juego.model import utcnow
from juego.store import schema as s
from juego.store.migrate import upgrade
from juego.store.pool import makeEngine
from juego.web.sessions import COOKIE, tokenHash
from juego.web.tokens import PartidaTokens
from tests.processes import CHECKOUT, ServiceProcess, freePort, serviceEnvironment, waitForPort

OUT = CHECKOUT / "bench" / "out"
#: Listen backlog for the web servers under test (the default, 50, drops SYNs when
#: thousands of WebSockets connect at once); the same for juego-web and the reference.
BACKLOG = 1024
#: The service secret of the deployments benchmarked: the key of the partidas the
#: benchmark issues itself (L{makePlayers}).
SECRET = secrets.token_hex(16)
#: py-spy samples per second.
PROFILE_RATE = 200


def raiseFileLimit() -> tuple[int, int]:
    """
    Raise this process's open-file limit to the hard limit (children inherit it).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def workDirectory() -> Path:
    return Path(tempfile.mkdtemp(prefix="juego-bench-web-"))


def removeWorkDirectory(work: Path) -> None:
    if os.environ.get("JUEGO_BENCH_KEEP") is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}", file=sys.stderr)


# -- the database ---------------------------------------------------------------------


def legalBody(partidaID: str, words: list[str], rng: random.Random) -> str:
    """
    A C{guardar_puntaje} body for a realistic game of the partida's words that passes
    every rule (L{bench.games}); with its C{puntaje}, which juego-web ignores and the
    seed's design (L{bench.seed_reference}) takes on trust.
    """
    played = games.game(words, rng)
    return json.dumps(
        {"partida_id": partidaID, "eventos": played["eventos"], "puntaje": played["puntaje"]}
    )


def makePlayers(
    players: int, partidasEach: int = 0, seed: int = 1
) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """
    C{players} players, each with a session and C{partidasEach} partidas issued
    L{games.ISSUED_AGO} ago (signed tokens, as juego-web issues them, under
    L{SECRET}): the rows to load (L{loadDatabase}) and the players,
    C{{"id", "cookie", "bodies": [legal saves]}}.
    """
    tokens = PartidaTokens(SECRET.encode())
    rng = random.Random(seed)
    now = utcnow()
    made: list[dict[str, Any]] = []
    users, sessions = [], []
    for i in range(1, players + 1):
        token = secrets.token_urlsafe(32)
        users.append(
            {
                "id": i,
                "nombre": f"jugador {i}",
                "email": f"jugador{i}@bench.example",
                "password_hash": "x",
                "es_admin": False,
                "bio": "",
                "fecha_registro": now,
            }
        )
        sessions.append(
            {
                "token_hash": tokenHash(token.encode("ascii")),
                "user_id": i,
                "creada": now,
                "expira": now + timedelta(days=30),
            }
        )
        bodies = []
        for _ in range(partidasEach):
            # As juego-web issues them: a token signed with the service secret, no row.
            partida = tokens.issue(i, "es", "normal", now - games.ISSUED_AGO)
            bodies.append(legalBody(partida.id, draw_words(partida.seed, "es"), rng))
        made.append({"id": i, "cookie": f"{COOKIE.decode('ascii')}={token}", "bodies": bodies})
    return {"users": users, "sessions": sessions, "partidas": []}, made


def loadDatabase(url: str, rows: dict[str, list[dict[str, Any]]]) -> str:
    """
    Migrate the database at C{url} and load L{makePlayers}'s rows into it; the URL.
    """
    engine = makeEngine(url)
    upgrade(engine)
    users = rows["users"]
    with engine.begin() as conn:
        conn.execute(insert(s.users), users)
        conn.execute(insert(s.user_aggregates), [{"user_id": u["id"]} for u in users])
        conn.execute(s.totals.update().values(usuarios=len(users)))
        conn.execute(insert(s.sessions), rows["sessions"])
        if rows["partidas"]:
            conn.execute(insert(s.partidas), rows["partidas"])
        if engine.dialect.name == "postgresql":
            # Rows were given their ids: move the sequence past them.
            conn.execute(text("SELECT setval('users_id_seq', (SELECT max(id) FROM users))"))
    engine.dispose()
    return url


def prepareDatabase(
    path: Path, players: int, partidasEach: int = 0
) -> tuple[str, list[dict[str, Any]]]:
    """
    A SQLite database with C{players} players, each with a session and C{partidasEach}
    open partidas; its URL and the players (L{makePlayers}).
    """
    rows, made = makePlayers(players, partidasEach)
    return loadDatabase(f"sqlite:///{path}", rows), made


def counts(url: str) -> dict[str, int]:
    """
    Rows that tell whether the saves went through: scores stored by juego-tcp, partidas
    saved by juego-web, and outbox rows left behind.
    """
    engine = makeEngine(url)
    try:
        with engine.connect() as conn:
            return {
                "scores": conn.execute(select(func.count()).select_from(s.scores)).scalar_one(),
                "guardadas": conn.execute(
                    select(func.count())
                    .select_from(s.partidas)
                    .where(s.partidas.c.estado.in_(("publica", "aprobada")))
                ).scalar_one(),
                "outbox": conn.execute(select(func.count()).select_from(s.outbox)).scalar_one(),
            }
    finally:
        engine.dispose()


# -- the services ---------------------------------------------------------------------


class InstrumentedService(ServiceProcess):
    """
    A service process with L{bench.sqlitelocks} installed: its lock figures go to
    C{locksPath}.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locksPath = os.path.join(self.cwd, f"locks-{self.plugin}.json")

    def start(self) -> InstrumentedService:
        preamble = f"import bench.sqlitelocks as l; l.install({self.locksPath!r}); "
        command = [
            sys.executable,
            "-c",
            preamble + "from twisted.scripts.twistd import run; run()",
            "--nodaemon",
            "--pidfile=",
            "--logfile",
            self.logPath,
            self.plugin,
            *self.args,
        ]
        self.process = subprocess.Popen(
            command, cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            waitForPort(self.port, self.process)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; log: {self.log()[-2000:]}") from e
        return self

    def locks(self) -> dict[str, Any]:
        try:
            return readJSON(Path(self.locksPath))
        except (OSError, ValueError):
            return {}


class Stack:
    """
    juego-tcp, juego-dist and juego-web, each its own process, on one database
    (instrumented with L{bench.sqlitelocks} if C{locks}).
    """

    def __init__(self, work: Path, url: str, locks: bool = False) -> None:
        self.work, self.url = work, url
        kind = InstrumentedService if locks else ServiceProcess
        self.tcpPort, self.distPort, self.webPort = freePort(), freePort(), freePort()
        env = {
            "TCP_PERSIST_HOST": "127.0.0.1",
            "TCP_PERSIST_PORT": str(self.tcpPort),
            "DISTRIBUTED_HOST": "127.0.0.1",
            "DISTRIBUTED_PORT": str(self.distPort),
            # A benchmark plays far faster than a person: no per-node rate limits.
            "JUEGO_RATE_LIMITS": "off",
            # The key of the partidas the benchmark issued (L{makePlayers}).
            "JUEGO_SERVICE_SECRET": SECRET,
        }
        listen = "tcp:{}:interface=127.0.0.1"
        self.tcp = kind(
            "juego-tcp",
            ["--listen", listen.format(self.tcpPort), "--database", url],
            str(work),
            self.tcpPort,
            env,
        )
        self.dist = kind(
            "juego-dist",
            ["--listen", listen.format(self.distPort), "--database", url],
            str(work),
            self.distPort,
            env,
        )
        self.web = kind(
            "juego-web",
            ["--listen", listen.format(self.webPort) + f":backlog={BACKLOG}", "--database", url],
            str(work),
            self.webPort,
            env,
        )

    def start(self) -> Stack:
        for service in (self.tcp, self.dist, self.web):
            service.start()
        return self

    def stop(self) -> None:
        for service in (self.web, self.dist, self.tcp):
            service.stop()

    @property
    def webPID(self) -> int:
        assert self.web.process is not None
        return self.web.process.pid

    def pids(self) -> dict[str, int]:
        return {
            name: service.process.pid
            for name, service in (("web", self.web), ("tcp", self.tcp), ("dist", self.dist))
            if service.process is not None
        }

    def get(self, path: str) -> tuple[int, bytes]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.webPort}{path}", timeout=10) as reply:
            return reply.status, reply.read()

    def locks(self) -> dict[str, dict[str, Any]]:
        """
        The lock figures of each instrumented service, so far.
        """
        return {
            name: service.locks()
            for name, service in (("web", self.web), ("tcp", self.tcp), ("dist", self.dist))
            if isinstance(service, InstrumentedService)
        }


@contextmanager
def stack(work: Path, url: str, locks: bool = False) -> Iterator[Stack]:
    running = Stack(work, url, locks)
    try:
        yield running.start()
    finally:
        running.stop()


@contextmanager
def bareKlein(work: Path, stats: dict[str, Any] | None = None) -> Iterator[tuple[int, int]]:
    """
    The reference (L{bench.bare_klein}) as a process: yields its port and pid.
    """
    port = freePort()
    command = [sys.executable, "-m", "bench.bare_klein", str(port)]
    if stats is not None:
        statsFile = work / "bare-stats.json"
        statsFile.write_text(json.dumps(stats, ensure_ascii=False), encoding="utf-8")
        command += ["--stats", str(statsFile)]
    process = subprocess.Popen(command, env=serviceEnvironment(), cwd=CHECKOUT)
    try:
        waitForPort(port, process)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- load and measurements ------------------------------------------------------------


def httpload(*args: str, timeout: float = 300.0) -> dict[str, Any]:
    """
    Run the load generator as its own process; its JSON summary.
    """
    out = subprocess.run(
        [sys.executable, "-m", "bench.httpload", *args],
        env=serviceEnvironment(),
        cwd=CHECKOUT,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return json.loads(out.stdout)


def memory(pid: int) -> dict[str, int]:
    """
    A process's resident memory (bytes) and open files, from C{/proc}.
    """
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon"):
            fields[name] = int(value.split()[0]) * 1024
    fields["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return fields


def cpuSeconds(pid: int, kind: str = "both") -> float:
    """
    CPU time (C{user}, C{system} or C{both}; all threads) a process has used so far.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])
    ticks = {"user": user, "system": system, "both": user + system}[kind]
    return ticks / os.sysconf("SC_CLK_TCK")


def machineBusySeconds() -> float:
    """
    CPU time the whole machine has spent busy (not idle or waiting on I/O), all cores.
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def waitForQuiet(threshold: float = 0.3, maxWait: float = 20.0, window: float = 1.0) -> float:
    """
    Wait (at most C{maxWait} seconds) until the machine is nearly idle (fewer than
    C{threshold} cores busy over C{window}), so that a run does not share the cores with
    someone else's work; the busy level last seen.
    """
    deadline = time.monotonic() + maxWait
    while True:
        before = machineBusySeconds()
        time.sleep(window)
        busy = (machineBusySeconds() - before) / window
        if busy < threshold or time.monotonic() > deadline:
            return round(busy, 2)


class CPUMeter:
    """
    CPU used by some processes between L{start} and L{stop}, as cores busy on average,
    and by the whole machine (C{machine}: to tell when something else was running).
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.started = 0.0
        self.usage: dict[str, float] = {}

    def start(self) -> CPUMeter:
        self.before = {name: cpuSeconds(pid) for name, pid in self.pids.items()}
        self.before["machine"] = machineBusySeconds()
        self.started = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self.started
        self.usage = {
            name: round((cpuSeconds(pid) - self.before[name]) / elapsed, 2)
            for name, pid in self.pids.items()
        }
        self.usage["machine"] = round((machineBusySeconds() - self.before["machine"]) / elapsed, 2)
        return self.usage

    def text(self) -> str:
        return ", ".join(f"{name} {cores:.2f}" for name, cores in self.usage.items())


def readJSON(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# -- profiles -------------------------------------------------------------------------


class Profiler:
    """
    C{py-spy record --gil -f raw} on a process for a while, started in the background.
    """

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        self.out = out
        self.process: subprocess.Popen | None = None
        if not spy.exists() and shutil.which("py-spy") is None:
            print("py-spy not found: no profile", file=sys.stderr)
            return
        self.process = subprocess.Popen(
            [
                str(spy) if spy.exists() else "py-spy",
                "record",
                "-o",
                str(out),
                "-f",
                "raw",
                "--gil",
                "-p",
                str(pid),
                "-d",
                str(max(1, int(seconds))),
                "-r",
                str(PROFILE_RATE),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait(self) -> Path | None:
        if self.process is None:
            return None
        self.process.wait(120)
        return self.out if self.out.exists() else None


def _frameName(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, line = where.rpartition(":")
    marker = "site-packages/"
    if marker in path:
        path = path.split(marker, 1)[1]
    elif "/juego/" in path:
        path = "juego/" + path.split("/juego/", 1)[1]
    else:
        path = os.path.basename(path)
    return f"{name} ({path}:{line})" if path else name


#: Where a sample's time goes: the first rule matching a frame, looking from the leaf.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("sqlite3: execute (incl. waiting for the write lock)", ("do_execute",)),
    ("sqlite3: commit (fsync)", ("do_commit",)),
    (
        "SQLAlchemy: building statements, cache keys, compiling",
        (
            "sqlalchemy/sql/",
            "_execute_clauseelement",
            "sqlalchemy/util/langhelpers",
        ),
    ),
    ("SQLAlchemy: execution, results, pool, events", ("sqlalchemy/",)),
    ("per-request log line (twisted.logger formatting + file)", ("twisted/logger/",)),
    ("metrics", ("prometheus_client/",)),
    ("game rules: draw_words + verify", ("juego/game/", "random.py")),
    ("line-protocol clients (juego-tcp, juego-dist)", ("juego/clients.py", "juego/wire/")),
    ("JSON", ("json/",)),
    (
        "thread pool hand-offs",
        ("threadpool.py", "_threadworker", "_team.py", "threads.py", "queue.py", "threading.py"),
    ),
    ("Klein routing (werkzeug)", ("klein/", "werkzeug/")),
    ("Twisted Web (HTTP parsing, response)", ("twisted/web/",)),
    ("juego web code", ("juego/web/",)),
    ("juego store code", ("juego/store/",)),
    ("Deferreds, reactor, I/O", ("twisted/",)),
]


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in CATEGORIES:
            if any(m in frame for m in markers):
                return name
    return "other"


def summariseProfile(path: Path, seconds: float, rate: int, top: int = 12) -> dict[str, Any]:
    """
    From py-spy's collapsed stacks (C{--gil}: only the thread holding the GIL is
    sampled, so the samples are the process's Python CPU): how much of the time the GIL
    was held, the shares of L{CATEGORIES}, and the functions with the most samples on
    top of the stack (self).
    """
    selfSamples: collections.Counter[str] = collections.Counter()
    categories: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames or frames[-1].startswith(("Condition.wait", "Queue.get")):
            continue  # an idle pool thread waiting for work
        n = int(count)
        total += n
        selfSamples[_frameName(frames[-1])] += n
        categories[_category(frames)] += n
        threads[
            "reactor" if any(f.startswith("ReactorBase.run ") for f in frames) else "other threads"
        ] += n

    def shares(counter: collections.Counter[str], limit: int) -> list[tuple[str, float]]:
        return (
            [(name, round(100 * n / total, 1)) for name, n in counter.most_common(limit)]
            if total
            else []
        )

    return {
        "samples": total,
        "busy": round(total / (seconds * rate), 2) if seconds else 0.0,
        "threads": shares(threads, 2),
        "categories": shares(categories, len(CATEGORIES) + 1),
        "self": shares(selfSamples, top),
    }


def formatProfile(title: str, summary: dict[str, Any]) -> str:
    lines = [
        f"== {title}: GIL held {summary['busy']:.0%} of the time ({summary['samples']} samples); "
        + ", ".join(f"{name} {pct}%" for name, pct in summary["threads"])
        + " =="
    ]
    lines.append("-- where the Python time goes --")
    lines += [f"{pct:5.1f}%  {name}" for name, pct in summary["categories"]]
    lines.append("-- top functions (self) --")
    lines += [f"{pct:5.1f}%  {name}" for name, pct in summary["self"]]
    return "\n".join(lines)


def settle(seconds: float = 0.5) -> None:
    time.sleep(seconds)
