"""
Faults between machines (issue 15): juego-web, juego-tcp, juego-dist and PostgreSQL each
in a network namespace of its own, on its own address as on its own host, while players
save at a steady rate through juego-web. In turn, on one test bed:

  - juego-web and juego-tcp partitioned for 10 s, then healed;
  - juego-tcp and PostgreSQL partitioned for 10 s, then healed;
  - juego-web and juego-dist partitioned for 10 s, then healed;
  - juego-tcp stopped (C{SIGSTOP}) for 10 s with its sockets open, then C{SIGCONT};
  - PostgreSQL restarted under load: a fast shutdown (its sessions ended mid-work), 10 s
    down, started again.

After each: every save the site acknowledged (200 or 202) is stored exactly once, every
new best has exactly one record notification (stored, and listed to its player), no
request took longer than L{REQUEST_BOUND}, the site serves normally (a healthy
C{/api/salud}, a save answered 200) within L{RECOVERY_BOUND} of the heal, and no juego
process was restarted. During each fault the answers are the documented ones: 202
C{pendiente} while juego-tcp cannot be reached (or cannot reach the database), 503
C{servicio_no_disponible} with C{Retry-After} while the database cannot be reached, and
without juego-dist the pages and the ranking serve on while only the stats API answers
503.

The network: a namespace per host plus one holding a bridge per link. A link joins two
hosts through their own veth pair each, enslaved to the link's bridge; a partition sets
the link's two bridge ports down, so both hosts lose carrier on that link and every
packet between them vanishes, both ways, in silence (addresses and routes stay,
neighbours are permanent entries: nothing answers "unreachable"), as when a switch or a
cable between two machines fails. The test process reaches each host over a link of its
own that is never cut. PostgreSQL is a private cluster (C{initdb} into a temporary
directory, run as the C{postgres} user in its namespace); the machine's own server is
never touched.

Needs root, C{ip} and PostgreSQL's server binaries; skipped without them unless
C{JUEGO_REQUIRE_NAMESPACES} is set (CI), where that is a failure. The figures are printed
(lines starting with C{[faults]}); docs/OPERATIONS.md ("Failure modes") records a run.
"""

from __future__ import annotations

import glob
import http.client
import json
import math
import os
import pwd
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from juego.game.rules import longitud, puntos
from juego.store import schema as s
from tests.processes import ServiceProcess, serviceEnvironment
from tests.records import RECORD_TEXT, checkRecordNotifications

REQUIRE = "JUEGO_REQUIRE_NAMESPACES"

#: How long each partition and the stop last (the issue's 10 s; never shorter).
FAULT_SECONDS = 10.0
#: Players signed up for each fault (fresh ones, so new bests keep coming), one thread each.
PLAYERS = 16
#: Saves answered before a fault is injected, and answered 200 after it is healed.
SAVES_BEFORE = 12
SAVES_AFTER = 12
#: The stated bounds: every request is answered within REQUEST_BOUND (the services'
#: 3 s call time-out, the database's 5 s connect time-out, plus the request's own work on
#: a loaded machine), and the site serves normally within RECOVERY_BOUND of a heal.
REQUEST_BOUND = 6.0
RECOVERY_BOUND = 15.0
#: Bounds on the waits of the harness (each polls a condition).
START_TIMEOUT = 60.0
PROGRESS_TIMEOUT = 60.0
DRAIN_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0
#: The last event may be this far ahead of the time since the partida was issued (the
#: rules allow 2,000 ms).
AHEAD_MS = 1500

PASSWORD = "contraseña-segura"
UNAVAILABLE = "servicio_no_disponible"

HOSTS = ("web", "tcp", "dist", "db")
#: Who talks to whom: each pair is one link (juego-tcp hands juego-dist the record
#: notifications its commits queue).
LINKS = (
    ("web", "tcp"),
    ("web", "dist"),
    ("web", "db"),
    ("tcp", "db"),
    ("dist", "db"),
    ("tcp", "dist"),
)
PORTS = {"web": 5000, "tcp": 6000, "dist": 7000, "db": 5432}


#: The log-normal shape of the intervals between keys (their coefficient of variation is
#: about 0.66; the plausibility check holds a game whose intervals vary under 0.2).
KEY_SPREAD = 0.6


def teclear(
    palabras: Sequence[str], words: int, rng: random.Random
) -> tuple[list[dict[str, Any]], int]:
    """
    Events for typing the first C{words} words as a person does, and the score they make:
    60–90 wpm, each keystroke's interval irregular (log-normal around the pace, as spread
    as a person's: a spread much under L{KEY_SPREAD} now and then looks machine-regular to
    the plausibility check over a short game, which holds the result), a pause
    to read each word before its first key, and now and then a slip (a wrong key, then
    backspace) that counts as an error. C{teclas} holds every input event's time since the
    word was shown; the word ends with its last keystroke.

    (The one place that makes keystrokes here: swap it for the shared generator.)
    """
    # A word of n letters takes n × msPerLetter on average (a "word" is 5 letters), of
    # which the reading pause takes 10–20 %; log-normal factors average exp(KEY_SPREAD²/2).
    msPerLetter = 60_000 / (rng.uniform(60, 90) * 5)
    eventos: list[dict[str, Any]] = []
    t = puntaje = 0
    for i, palabra in enumerate(palabras[:words]):
        letters = longitud(palabra)
        at = rng.uniform(0.1, 0.2) * letters * msPerLetter
        msPerKey = (letters * msPerLetter - at) / letters / math.exp(KEY_SPREAD**2 / 2)
        teclas: list[int] = []
        errores = 0
        for _ in range(letters):
            if rng.random() < 0.04:
                errores += 1
                for _slip in range(2):
                    at += msPerKey * rng.lognormvariate(0, KEY_SPREAD)
                    teclas.append(int(at))
            at += msPerKey * rng.lognormvariate(0, KEY_SPREAD)
            teclas.append(int(at))
        t += teclas[-1]
        eventos.append({"t": t, "ok": True, "errores": errores, "teclas": teclas})
        puntaje += puntos(i, palabra)
    return eventos, puntaje


# -- the test bed ------------------------------------------------------------------------


def requireNamespaces() -> None:
    """
    Skip (or, with C{JUEGO_REQUIRE_NAMESPACES}, fail) where this machine cannot build the
    test bed: not root, no C{ip}, no network namespaces, no PostgreSQL server binaries.
    """
    problem = None
    if os.geteuid() != 0:
        problem = "network namespaces need root"
    elif shutil.which("ip") is None:
        problem = "no ip command (iproute2)"
    elif not postgresBinaries():
        problem = "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)"
    else:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            problem = "no postgres user to run the private cluster"
    if problem is None:
        probe = "jfprobe" + secrets.token_hex(3)
        made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if made.returncode != 0:
            problem = f"cannot make a network namespace: {made.stderr.strip()}"
        else:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if problem is not None:
        if os.environ.get(REQUIRE):
            raise AssertionError(f"{REQUIRE} is set but {problem}")
        raise SkipTest(problem)


def postgresBinaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def run(*command: str, timeout: float = 60.0) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


class Network:
    """
    A namespace per host (C{HOSTS}), one more (C{net}) holding a bridge per link, and a
    link from the test's own namespace to each host. Names carry a random tag, addresses
    a random /24 of 10.0.0.0/8 with the hosts at .1–.4; everything goes with the
    namespaces.
    """

    def __init__(self, case: SynchronousTestCase) -> None:
        self.tag = secrets.token_hex(3)
        octets = secrets.token_bytes(2)
        self.prefix = f"10.{200 + octets[0] % 50}.{octets[1]}"
        self.address = {host: f"{self.prefix}.{n}" for n, host in enumerate(HOSTS, 1)}
        self.namespace = {name: f"jf{self.tag}-{name}" for name in (*HOSTS, "net")}
        self._macs = 0
        self._made: list[str] = []
        case.addCleanup(self.destroy)

    def _mac(self) -> str:
        self._macs += 1
        return f"02:4a:{self.tag[:2]}:{self.tag[2:4]}:{self.tag[4:]}:{self._macs:02x}"

    def ip(self, namespace: str | None, *args: str) -> None:
        run("ip", *(["-n", namespace] if namespace else []), *args)

    def exec(self, host: str) -> list[str]:
        """
        The command prefix that runs a program in C{host}'s namespace.
        """
        return ["ip", "netns", "exec", self.namespace[host]]

    def build(self) -> None:
        for name in self.namespace.values():
            run("ip", "netns", "add", name)
            self._made.append(name)
            self.ip(name, "link", "set", "lo", "up")
        for host in HOSTS:
            self.ip(self.namespace[host], "addr", "add", f"{self.address[host]}/32", "dev", "lo")
        net = self.namespace["net"]
        for n, (a, b) in enumerate(LINKS):
            self.ip(net, "link", "add", f"br{n}", "type", "bridge")
            self.ip(net, "link", "set", f"br{n}", "up")
            macs = {}
            for host in (a, b):
                macs[host] = self._mac()
                run(
                    "ip", "link", "add", f"to-{b if host == a else a}",
                    "netns", self.namespace[host], "address", macs[host], "type", "veth",
                    "peer", "name", self._port(n, host), "netns", net,
                )  # fmt: skip
                self.ip(net, "link", "set", self._port(n, host), "master", f"br{n}", "up")
            for host, peer in ((a, b), (b, a)):
                self._route(self.namespace[host], f"to-{peer}", self.address[host],
                            self.address[peer], macs[peer])  # fmt: skip
        # The test's own links: never cut (the players' and the checks' way in).
        for n, host in enumerate(HOSTS):
            mine, theirs = f"{self.prefix}.{100 + n}", self.address[host]
            outside, inside = self._mac(), self._mac()
            device = f"jf{self.tag}{n}"
            run(
                "ip", "link", "add", device, "address", outside, "type", "veth",
                "peer", "name", "outside", "address", inside, "netns", self.namespace[host],
            )  # fmt: skip
            self._made.append(device)
            self.ip(None, "addr", "add", f"{mine}/32", "dev", device)
            self._route(None, device, mine, theirs, inside)
            self._route(self.namespace[host], "outside", theirs, mine, outside)

    @staticmethod
    def _port(n: int, host: str) -> str:
        return f"p{n}{host}"

    def _route(self, ns: str | None, device: str, source: str, peer: str, mac: str) -> None:
        self.ip(ns, "link", "set", device, "up")
        self.ip(ns, "route", "add", f"{peer}/32", "dev", device, "src", source)
        # Permanent: a cut link swallows packets; it never answers "host unreachable".
        self.ip(ns, "neigh", "replace", peer, "lladdr", mac, "dev", device, "nud", "permanent")

    def _link(self, a: str, b: str) -> int:
        for n, pair in enumerate(LINKS):
            if set(pair) == {a, b}:
                return n
        raise KeyError((a, b))

    def partition(self, a: str, b: str) -> None:
        n = self._link(a, b)
        for host in (a, b):
            self.ip(self.namespace["net"], "link", "set", self._port(n, host), "down")

    def heal(self, a: str, b: str) -> None:
        n = self._link(a, b)
        for host in (a, b):
            self.ip(self.namespace["net"], "link", "set", self._port(n, host), "up")

    def destroy(self) -> None:
        for name in reversed(self._made):
            if name.startswith(f"jf{self.tag}-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
            else:
                subprocess.run(["ip", "link", "del", name], capture_output=True)


class Postgres:
    """
    A private PostgreSQL cluster in the C{db} namespace, listening on its address only,
    run by the C{postgres} user from a temporary directory.
    """

    def __init__(self, case: SynchronousTestCase, network: Network) -> None:
        self.network = network
        self.bin = postgresBinaries() or ""
        self.directory = Path(tempfile.mkdtemp(prefix="juego-faults-pg-"))
        self.data = self.directory / "data"
        self.logPath = self.directory / "postgres.log"
        user = pwd.getpwnam("postgres")
        os.chown(self.directory, user.pw_uid, user.pw_gid)
        self.address = network.address["db"]
        self.url = f"postgresql+psycopg://postgres@{self.address}:{PORTS['db']}/juego"
        case.addCleanup(self.destroy)

    def _asPostgres(self, *command: str, inNamespace: bool = True) -> list[str]:
        prefix = self.network.exec("db") if inNamespace else []
        return [*prefix, "runuser", "-u", "postgres", "--", *command]

    def _pgctl(self, *args: str) -> None:
        run(
            *self._asPostgres(
                f"{self.bin}/pg_ctl", "-D", str(self.data), "-l", str(self.logPath), "-w",
                "-t", "60", *args,
            ),
            timeout=90,
        )  # fmt: skip

    def start(self) -> None:
        run(
            *self._asPostgres(
                f"{self.bin}/initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--locale=C", "--no-sync", inNamespace=False,
            )
        )  # fmt: skip
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.network.prefix}.0/24 trust\n")
        # fsync off spares the shared machine's disk: a fast restart is a clean shutdown,
        # which writes everything out either way.
        self.startServer()
        admin = create_engine(
            f"postgresql+psycopg://postgres@{self.address}:{PORTS['db']}/postgres",
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
        )
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE juego"))
        admin.dispose()

    def startServer(self) -> None:
        options = (
            f"-c listen_addresses={self.address} -p {PORTS['db']} "
            f"-k {self.directory} -c max_connections=80 -c fsync=off"
        )
        self._pgctl("-o", options, "start")

    def stopServer(self) -> None:
        """
        What a restart begins with: a fast shutdown (open sessions are ended).
        """
        self._pgctl("-m", "fast", "stop")

    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def log(self) -> str:
        try:
            return self.logPath.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._pgctl("-m", "immediate", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                try:
                    os.kill(self.pid(), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        shutil.rmtree(self.directory, ignore_errors=True)


class System:
    """
    The test bed: the network, PostgreSQL, and juego-tcp, juego-dist and juego-web, each
    in its host's namespace, sharing a service secret.
    """

    PLUGINS = {"tcp": "juego-tcp", "dist": "juego-dist", "web": "juego-web"}

    def __init__(self, case: SynchronousTestCase) -> None:
        self.case = case
        self.network = Network(case)
        self.postgres = Postgres(case, self.network)
        self.directory = Path(case.mktemp()).resolve()
        self.directory.mkdir(parents=True)
        address = self.network.address
        self.env = {
            "JUEGO_SERVICE_SECRET": secrets.token_hex(32),
            "JUEGO_DATABASE_URL": self.postgres.url,
            "TCP_PERSIST_HOST": address["tcp"],
            "TCP_PERSIST_PORT": str(PORTS["tcp"]),
            "DISTRIBUTED_HOST": address["dist"],
            "DISTRIBUTED_PORT": str(PORTS["dist"]),
            "PYTHONIOENCODING": "utf-8",
            # Sixteen players saving as fast as the test can: the per-node rate limits
            # (juego.web.ratelimit) are for people, not for this load.
            "JUEGO_RATE_LIMITS": "off",
            # The test's own side of each link, as a balancer would be: its
            # X-Forwarded-For gives each player a client address of her own.
            "JUEGO_TRUSTED_PROXIES": f"{self.network.prefix}.0/24",
        }
        self.processes: dict[str, ServiceProcess] = {}
        self.engine = create_engine(self.postgres.url, poolclass=NullPool)
        self.webHost = address["web"]
        case.addCleanup(self.stopAll)

    def start(self) -> None:
        self.network.build()
        self.postgres.start()
        migrated = subprocess.run(
            [sys.executable, "-m", "juego.admin", "db", "upgrade"],
            env=serviceEnvironment(self.env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if migrated.returncode != 0:
            raise AssertionError(f"juego-admin db upgrade failed: {migrated.stderr}")
        for name, plugin in self.PLUGINS.items():
            address = self.network.address[name]
            self.processes[name] = ServiceProcess(
                plugin,
                ["--listen", f"tcp:{PORTS[name]}:interface={address}"],
                str(self.directory),
                PORTS[name],
                self.env,
                prefix=self.network.exec(name),
                host=address,
            )
        with ThreadPoolExecutor(len(self.processes)) as pool:
            list(pool.map(lambda service: service.start(), self.processes.values()))

    def pids(self) -> dict[str, int]:
        return {
            name: service.process.pid
            for name, service in self.processes.items()
            if service.process is not None
        }

    def alive(self) -> dict[str, bool]:
        return {
            name: service.process is not None and service.process.poll() is None
            for name, service in self.processes.items()
        }

    def stopAll(self) -> None:
        for service in self.processes.values():
            if service.process is not None and service.process.poll() is None:
                os.kill(service.process.pid, signal.SIGCONT)  # in case a test stopped it
            service.stop()
            if service.process is not None and service.process.stderr is not None:
                service.process.stderr.close()
        self.engine.dispose()

    def query(self, statement: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(statement))

    def outboxRows(self) -> int:
        """
        Work waiting in juego-web's outbox and in juego-tcp's.
        """
        return sum(
            self.query(select(func.count()).select_from(table))[0][0] for table in s.OUTBOXES
        )

    def logTails(self, lines: int = 25) -> str:
        parts = []
        for name, service in self.processes.items():
            tail = "\n".join(service.log().splitlines()[-lines:])
            parts.append(f"--- {name} ({service.logPath}) ---\n{tail}")
        tail = "\n".join(self.postgres.log().splitlines()[-lines:])
        parts.append(f"--- postgres ---\n{tail}")
        return "\n".join(parts)


# -- players over HTTP -------------------------------------------------------------------


@dataclass
class Answer:
    """
    One HTTP request as the client saw it.
    """

    what: str
    status: int | None
    body: dict[str, Any]
    began: float
    ended: float
    retryAfter: str | None = None
    error: str = ""

    @property
    def code(self) -> str | None:
        return self.body.get("code")

    @property
    def seconds(self) -> float:
        return self.ended - self.began

    def unavailable(self) -> bool:
        """
        The documented answer of an outage: 503 with C{Retry-After}, and from the API the
        code C{servicio_no_disponible} (a page says it in HTML).
        """
        if self.status != 503 or self.retryAfter is None:
            return False
        return self.what.startswith("page") or self.code == UNAVAILABLE


class Web:
    """
    One keep-alive HTTP connection to juego-web; every answer goes to C{record}.
    """

    def __init__(self, host: str, record: Callable[[Answer], None]) -> None:
        self.host = host
        self.record = record
        self.connection = http.client.HTTPConnection(host, PORTS["web"], timeout=HTTP_TIMEOUT)

    def close(self) -> None:
        self.connection.close()

    def request(
        self,
        what: str,
        method: str,
        path: str,
        body: Any = None,
        cookie: str = "",
        forwardedFor: str | None = None,
    ) -> tuple[Answer, http.client.HTTPResponse | None]:
        headers = {"Host": f"{self.host}:{PORTS['web']}", "Accept": "application/json"}
        if forwardedFor is not None:
            headers["X-Forwarded-For"] = forwardedFor
        data = None
        if method != "GET":
            headers["Origin"] = f"http://{self.host}:{PORTS['web']}"
            headers["Content-Type"] = "application/json"
            data = json.dumps(body or {}).encode("utf-8")
        if cookie:
            headers["Cookie"] = cookie
        began = time.monotonic()
        try:
            self.connection.request(method, path, data, headers)
            response = self.connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as e:
            self.connection.close()
            answer = Answer(what, None, {}, began, time.monotonic(), error=repr(e))
            self.record(answer)
            return answer, None
        try:
            parsed = json.loads(raw) if raw.startswith(b"{") else {}
        except ValueError:
            parsed = {}
        answer = Answer(
            what,
            response.status,
            parsed,
            began,
            time.monotonic(),
            response.getheader("Retry-After"),
        )
        self.record(answer)
        return answer, response


@dataclass
class Player:
    index: int
    id: int = 0
    cookie: str = ""


@dataclass
class Save:
    """
    One save: the partida, the score its events make, the answer to its first attempt
    and the last answer (the player retries a 503, as C{Retry-After} invites).
    """

    player: Player
    partida: str
    expected: int
    first: Answer
    answer: Answer

    @property
    def acknowledged(self) -> bool:
        return self.answer.status in (200, 202) and self.answer.body.get("success") is True

    @property
    def pending(self) -> bool:
        return self.answer.status == 202 and self.answer.body.get("pendiente") is True

    def within(self, start: float, end: float) -> bool:
        """
        Whether the first attempt fell wholly between C{start} and C{end}.
        """
        return start <= self.first.began and self.first.ended <= end


class Load:
    """
    Every player plays partida after partida on a thread of its own: issue, type (in real
    time: the events may not run ahead of the clock), save; until stopped.
    """

    def __init__(self, host: str, players: Sequence[Player], seed: int) -> None:
        self.host = host
        self.players = players
        self.seed = seed
        self.answers: list[Answer] = []
        self.saves: list[Save] = []
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._play, args=(player,), daemon=True) for player in players
        ]

    def record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def _play(self, player: Player) -> None:
        rng = random.Random(self.seed * 1000 + player.index)
        web = Web(self.host, self.record)
        try:
            while not self._stop.is_set():
                issued, _ = web.request(
                    "partidas", "POST", "/api/partidas", {"idioma": "es"}, player.cookie
                )
                if issued.status != 201:
                    self._stop.wait(1.0)  # 503: try again soon (sooner than Retry-After)
                    continue
                partida = issued.body["partida"]
                eventos, expected = teclear(partida["palabras"], rng.randint(1, 4), rng)
                # The player types in real time (a game under way when the load stops
                # is abandoned: it counts nowhere).
                ready = issued.ended + (eventos[-1]["t"] - AHEAD_MS) / 1000
                if self._stop.wait(max(0.0, ready - time.monotonic())):
                    break
                body = {"partida_id": partida["id"], "eventos": eventos}
                first = answer = web.request(
                    "guardar_puntaje", "POST", "/api/guardar_puntaje", body, player.cookie
                )[0]
                # A 503 invites a retry: the same result again, soon (the partida is
                # still open: nothing was kept), even once the load is stopping.
                giveUp = time.monotonic() + PROGRESS_TIMEOUT
                while answer.unavailable() and time.monotonic() < giveUp:
                    time.sleep(1.0)  # the client's pause (shorter than Retry-After)
                    answer = web.request(
                        "guardar_puntaje (retry)",
                        "POST",
                        "/api/guardar_puntaje",
                        body,
                        player.cookie,
                    )[0]
                with self._lock:
                    self.saves.append(Save(player, partida["id"], expected, first, answer))
                    self._lock.notify_all()
        finally:
            web.close()

    def waitFor(self, condition: Callable[[list[Save]], bool], what: str) -> None:
        deadline = time.monotonic() + PROGRESS_TIMEOUT
        with self._lock:
            while not condition(self.saves):
                if time.monotonic() > deadline:
                    raise AssertionError(f"not {what} after {PROGRESS_TIMEOUT} s")
                self._lock.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(PROGRESS_TIMEOUT)


class Prober:
    """
    While a fault lasts, what else a visitor and an operator would ask for, in a loop:
    the pages, the ranking, the stats API and C{/api/salud}.
    """

    PATHS = (
        ("page /", "/"),
        ("page /ranking", "/ranking"),
        ("page /perfil", "/perfil"),
        ("ranking", "/api/ranking"),
        ("stats", "/api/stats/global"),
        ("stats", "/api/stats/usuario"),
        ("salud", "/api/salud"),
    )

    def __init__(self, host: str, player: Player, interval: float) -> None:
        self.answers: list[Answer] = []
        self._web = Web(host, self.answers.append)
        self._player = player
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def start(self) -> Prober:
        self._thread.start()
        return self

    def _probe(self) -> None:
        try:
            while not self._stop.is_set():
                for what, path in self.PATHS:
                    self._web.request(what, "GET", path, cookie=self._player.cookie)
                self._stop.wait(self._interval)
        finally:
            self._web.close()

    def stop(self) -> list[Answer]:
        self._stop.set()
        self._thread.join(PROGRESS_TIMEOUT)
        return self.answers


# -- the scenario --------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    #: What the fault cuts: "tcp" (saves go pending), "dist", "notices" (juego-tcp's way
    #: to juego-dist: saves go on, record notifications wait) or "db".
    kind: str
    inject: Callable[[], None]
    heal: Callable[[], None]


@dataclass
class Figures:
    name: str
    acknowledged: int = 0
    confirmed: int = 0
    pending: int = 0
    stored: int = 0
    doubled: int = 0
    lost: int = 0
    unacknowledgedStored: int = 0
    refused: int = 0
    inside: int = 0
    outage: float = 0.0
    recovery: float = 0.0
    drained: float = 0.0
    slowest: float = 0.0
    slowestWhat: str = ""
    records: int = 0
    notifications: int = 0
    notificationsDoubled: int = 0
    health: str = ""
    outboxPeak: int | str = 0
    extra: dict[str, Any] = field(default_factory=dict)


class FaultTests(SynchronousTestCase):
    def setUp(self) -> None:
        requireNamespaces()
        started = time.monotonic()
        self.system = System(self)
        self.system.start()
        self.host = self.system.webHost
        self.waitHealthy(START_TIMEOUT)
        self.startedIn = time.monotonic() - started
        self.signedUp = 0

    # helpers

    def web(self) -> Web:
        return Web(self.host, lambda answer: None)

    def salud(self) -> Answer:
        web = self.web()
        try:
            answer, _ = web.request("salud", "GET", "/api/salud")
        finally:
            web.close()
        return answer

    def waitHealthy(self, timeout: float) -> float:
        started = time.monotonic()
        while True:
            answer = self.salud()
            if answer.status == 200:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(
                    f"/api/salud still {answer.status} {answer.body} after {timeout} s\n"
                    + self.system.logTails()
                )
            time.sleep(0.1)

    def signUp(self, count: int) -> list[Player]:
        first = self.signedUp
        self.signedUp += count

        def one(index: int) -> Player:
            web = self.web()
            try:
                answer, response = web.request(
                    "registro",
                    "POST",
                    "/api/registro",
                    {
                        "nombre": f"Jugadora {index}",
                        "email": f"jugadora{index}@example.com",
                        "password": PASSWORD,
                    },
                    # Each player signs up from an address of her own, as people do: the
                    # sign-up limit per address (in the database) is not what is tested.
                    forwardedFor=f"198.18.{index // 250}.{index % 250 + 1}",
                )
            finally:
                web.close()
            if answer.status != 201 or response is None:
                raise AssertionError(f"registro answered {answer.status}: {answer.body}")
            cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
            return Player(index, answer.body["user"]["id"], cookie)

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(first, first + count)))

    def probeSave(self, player: Player) -> Answer:
        """
        A one-word game, saved at once.
        """
        web = self.web()
        try:
            issued, _ = web.request("partidas", "POST", "/api/partidas", {}, player.cookie)
            if issued.status != 201:
                return issued
            partida = issued.body["partida"]
            eventos, _ = teclear(partida["palabras"], 1, random.Random(len(partida["id"])))
            answer, _ = web.request(
                "guardar_puntaje",
                "POST",
                "/api/guardar_puntaje",
                {"partida_id": partida["id"], "eventos": eventos},
                player.cookie,
            )
            return answer
        finally:
            web.close()

    def waitRecovered(self, healed: float, probe: Player, kind: str) -> float:
        """
        Poll until the site serves normally: C{/api/salud} all ok, a save answered 200
        (and, after a juego-dist fault, the stats API answering). Seconds since C{healed}.
        """
        while True:
            if time.monotonic() - healed > RECOVERY_BOUND:
                raise AssertionError(
                    f"not serving normally {RECOVERY_BOUND} s after the heal: "
                    f"{self.salud().body}\n{self.system.logTails()}"
                )
            if self.salud().status != 200:
                time.sleep(0.1)
                continue
            if kind == "dist":
                web = self.web()
                try:
                    stats, _ = web.request("stats", "GET", "/api/stats/global")
                finally:
                    web.close()
                if stats.status != 200:
                    continue
            if self.probeSave(probe).status == 200:
                return time.monotonic() - healed

    def waitDrained(self) -> float:
        started = time.monotonic()
        while rows := self.system.outboxRows():
            if time.monotonic() - started > DRAIN_TIMEOUT:
                raise AssertionError(
                    f"the outbox still holds {rows} rows after {DRAIN_TIMEOUT} s\n"
                    + self.system.logTails()
                )
            time.sleep(0.2)
        return time.monotonic() - started

    # checks

    def checkAnswers(self, fault: Fault, answers: Sequence[Answer], figures: Figures) -> None:
        """
        Every answer is a documented one, none took longer than the stated bound.
        """
        wrong = []
        for answer in answers:
            ok = {
                "partidas": answer.status == 201,
                "guardar_puntaje": answer.status in (200, 202),
                # 409: an earlier attempt answered 503 yet was kept after all.
                "guardar_puntaje (retry)": answer.status in (200, 202, 409),
                "ranking": answer.status == 200,
                "salud": answer.status in (200, 503),
                "stats": answer.status == 200,
            }.get(answer.what, answer.status == 200)
            if not ok and answer.unavailable():
                # 503 with Retry-After: the database away (anything), juego-dist away (stats).
                ok = fault.kind == "db" or (fault.kind == "dist" and answer.what == "stats")
            if not ok:
                wrong.append(answer)
        self.assertEqual(wrong, [], f"{fault.name}: undocumented answers")
        slowest = max(answers, key=lambda answer: answer.seconds)
        figures.slowest, figures.slowestWhat = slowest.seconds, slowest.what
        self.assertLessEqual(slowest.seconds, REQUEST_BOUND, f"{fault.name}: {slowest}")

    def checkStored(self, fault: Fault, saves: Sequence[Save], figures: Figures) -> None:
        """
        Every acknowledged save stored exactly once, with its score; nothing else stored
        but saves whose answer was a 503 (their outcome unknown to the player); each
        player's aggregates agree with their stored games.
        """
        players = {save.player.id for save in saves}
        rows = [
            row
            for row in self.system.query(
                select(s.scores.c.clave, s.scores.c.user_id, s.scores.c.puntaje)
            )
            if row.user_id in players
        ]
        perKey = Counter(row.clave for row in rows)
        byKey = {row.clave: row for row in rows}
        acknowledged = [save for save in saves if save.acknowledged]
        unknown = {save.partida for save in saves if not save.acknowledged}
        figures.acknowledged = len(acknowledged)
        figures.confirmed = sum(save.answer.status == 200 for save in acknowledged)
        figures.pending = sum(save.pending for save in acknowledged)
        figures.refused = sum(save.first.unavailable() for save in saves)
        figures.stored = len(rows)
        figures.doubled = sum(n - 1 for n in perKey.values() if n > 1)
        figures.lost = sum(save.partida not in byKey for save in acknowledged)
        strays = set(byKey) - {save.partida for save in acknowledged}
        figures.unacknowledgedStored = len(strays)
        self.assertEqual(figures.doubled, 0, f"{fault.name}: a save was stored twice")
        self.assertEqual(figures.lost, 0, f"{fault.name}: an acknowledged save was lost")
        self.assertEqual(strays - unknown, set(), f"{fault.name}: stored, never sent")
        for save in acknowledged:
            row = byKey[save.partida]
            self.assertEqual((row.user_id, row.puntaje), (save.player.id, save.expected))
        expected: dict[int, tuple[int, int]] = {}
        for row in rows:
            games, best = expected.get(row.user_id, (0, 0))
            expected[row.user_id] = (games + 1, max(best, row.puntaje))
        aggregates = {
            row.user_id: (row.partidas_jugadas, row.puntaje_maximo)
            for row in self.system.query(
                select(
                    s.user_aggregates.c.user_id,
                    s.user_aggregates.c.partidas_jugadas,
                    s.user_aggregates.c.puntaje_maximo,
                ).where(s.user_aggregates.c.user_id.in_(players))
            )
        }
        self.assertEqual(
            {player: aggregates.get(player, (0, 0)) for player in players},
            {player: expected.get(player, (0, 0)) for player in players},
            f"{fault.name}: aggregates",
        )

    def checkNotifications(self, fault: Fault, players: Sequence[Player], figures: Figures) -> None:
        """
        Each new best has exactly one record notification, with its text, stored and
        listed to its player; there are no others.
        """
        count = checkRecordNotifications(
            self, self.system.query, [player.id for player in players], fault.name
        )
        figures.records = count.records
        figures.notifications = count.notifications
        figures.notificationsDoubled = count.duplicated
        # ... and each player is shown each of theirs once.
        web = self.web()
        try:
            for player in players:
                answer, _ = web.request(
                    "notificaciones", "GET", "/api/notificaciones?limit=100", cookie=player.cookie
                )
                self.assertEqual(answer.status, 200, answer)
                shown = Counter(
                    n["message"] for n in answer.body["notifications"] if "récord" in n["message"]
                )
                mine = Counter(
                    RECORD_TEXT.format(r.puntaje) for r in count.bests if r.user_id == player.id
                )
                self.assertEqual(shown, mine, f"{fault.name}: player {player.id}")
        finally:
            web.close()

    # one fault

    def runFault(self, fault: Fault, seed: int, figures: Figures) -> None:
        system = self.system
        [probe, *players] = self.signUp(PLAYERS + 1)
        load = Load(self.host, players, seed).start()
        self.addCleanup(load.stop)
        load.waitFor(
            lambda saves: sum(save.acknowledged for save in saves) >= SAVES_BEFORE,
            f"{SAVES_BEFORE} saves acknowledged before the fault",
        )
        pidsBefore = system.pids()
        prober = Prober(self.host, probe, 0.5).start()
        injected = time.monotonic()
        fault.inject()
        figures.extra["injecting took"] = f"{time.monotonic() - injected:.1f} s"
        # The fault's length is the point: hold it, sampling what operators see.
        time.sleep(max(0.0, injected + FAULT_SECONDS / 2 - time.monotonic()))
        health = self.salud()
        parts = {k: health.body.get(k) for k in ("database", "tcp", "dist")}
        figures.health = f"{health.status} {json.dumps(parts)}"
        figures.outboxPeak = "n/a (no database)" if fault.kind == "db" else system.outboxRows()
        time.sleep(max(0.0, injected + FAULT_SECONDS - time.monotonic()))
        healing = time.monotonic()
        fault.heal()
        healed = time.monotonic()
        figures.extra["healing took"] = f"{healed - healing:.1f} s"
        figures.outage = healed - injected
        figures.recovery = self.waitRecovered(healed, probe, fault.kind)
        recovered = time.monotonic()
        probes = prober.stop()
        load.waitFor(
            lambda saves: (
                sum(save.answer.status == 200 and save.answer.began >= recovered for save in saves)
                >= SAVES_AFTER
            ),
            f"{SAVES_AFTER} saves answered 200 after the recovery",
        )
        load.stop()
        figures.drained = time.monotonic() - healed + self.waitDrained()
        # No process restarted (PostgreSQL's, when the fault is its restart, aside).
        self.assertEqual(system.pids(), pidsBefore, f"{fault.name}: a process was restarted")
        self.assertEqual(set(system.alive().values()), {True}, f"{fault.name}: a process died")

        saves = load.saves
        self.checkAnswers(fault, load.answers + probes, figures)
        self.checkStored(fault, saves, figures)
        self.checkNotifications(fault, players, figures)

        inside = [save for save in saves if save.within(injected, healed)]
        figures.inside = len(inside)
        if fault.kind == "tcp":
            self.assertGreater(len(inside), 0, f"{fault.name}: no save inside the fault")
            self.assertEqual([save for save in inside if not save.pending], [], fault.name)
        elif fault.kind == "dist":
            self.assertGreater(len(inside), 0, f"{fault.name}: no save inside the fault")
            self.assertEqual([save for save in inside if save.answer.status != 200], [], fault.name)
            during = [a for a in probes if injected <= a.began and a.ended <= healed]
            stats = [a for a in during if a.what == "stats"]
            self.assertGreater(len(stats), 0)
            self.assertEqual([a for a in stats if not a.unavailable()], [], "stats degrade: 503")
            pages = [a for a in during if a.what.startswith("page") or a.what == "ranking"]
            self.assertEqual({a.status for a in pages}, {200}, "pages serve on")
            recordsInside = sum(bool(save.answer.body.get("nuevo_record")) for save in inside)
            self.assertGreater(recordsInside, 0, "no new best while juego-dist was away")
            figures.extra["new bests while away"] = recordsInside
        elif fault.kind == "notices":
            # Nothing a player sees changes; the notifications wait in juego-tcp's outbox
            # (checked above: each delivered once after the heal).
            self.assertGreater(len(inside), 0, f"{fault.name}: no save inside the fault")
            self.assertEqual([save for save in inside if save.answer.status != 200], [], fault.name)
            recordsInside = sum(bool(save.answer.body.get("nuevo_record")) for save in inside)
            self.assertGreater(recordsInside, 0, "no new best while the link was down")
            figures.extra["new bests while cut"] = recordsInside
        else:
            self.assertGreater(len(inside), 0, f"{fault.name}: no save inside the fault")
            # 503 while the database is away; a save caught as the server was stopping
            # may have closed its partida in juego-web's database but not reached juego-tcp's
            # transaction: 202 pendiente, as documented (kept durably, stored once, checked
            # above). A verified save needs no database in juego-web (a token partida, a
            # cached session), so one whose juego-tcp commit got through while the server
            # was going down or coming back is 200 (stored once, checked above). Nothing
            # else.
            self.assertEqual(
                [
                    save
                    for save in inside
                    if not (save.first.unavailable() or save.first.status in (200, 202))
                ],
                [],
            )
            self.assertGreater(sum(save.first.unavailable() for save in inside), 0)
            # Each was kept on a retry (or, if its first attempt was kept after all, the
            # retry says 409: stored once either way, checked above).
            self.assertEqual(
                [
                    s
                    for s in inside
                    if not (s.acknowledged or s.answer.status == 409 or s.first.status == 202)
                ],
                [],
            )
            retried = sum(save.acknowledged for save in inside)
            figures.extra["503 saves retried and acknowledged"] = f"{retried} of {len(inside)}"
            unavailable = [a for a in load.answers + probes if a.unavailable()]
            self.assertGreater(len(unavailable), 0, "no 503 while PostgreSQL restarted")
            counts = Counter(a.what for a in unavailable)
            figures.extra["503 answers"] = ", ".join(f"{n} {what}" for what, n in counts.items())

    def test_faults(self) -> None:
        """
        Partitions, a stopped process and a database restart, in turn, under load: no
        acknowledged save lost or doubled, every record notified once, documented answers
        meanwhile, normal service soon after each heal.
        """
        system = self.system
        network = system.network
        tcp = system.processes["tcp"]
        assert tcp.process is not None
        tcpPid = tcp.process.pid
        faults = [
            Fault(
                "partition juego-web / juego-tcp",
                "tcp",
                lambda: network.partition("web", "tcp"),
                lambda: network.heal("web", "tcp"),
            ),
            Fault(
                "partition juego-tcp / PostgreSQL",
                "tcp",
                lambda: network.partition("tcp", "db"),
                lambda: network.heal("tcp", "db"),
            ),
            Fault(
                "partition juego-web / juego-dist",
                "dist",
                lambda: network.partition("web", "dist"),
                lambda: network.heal("web", "dist"),
            ),
            Fault(
                "partition juego-tcp / juego-dist",
                "notices",
                lambda: network.partition("tcp", "dist"),
                lambda: network.heal("tcp", "dist"),
            ),
            Fault(
                "SIGSTOP juego-tcp",
                "tcp",
                lambda: os.kill(tcpPid, signal.SIGSTOP),
                lambda: os.kill(tcpPid, signal.SIGCONT),
            ),
            Fault(
                "restart PostgreSQL (down 10 s)",
                "db",
                system.postgres.stopServer,
                system.postgres.startServer,
            ),
        ]
        wall = time.monotonic()
        for n, fault in enumerate(faults, 1):
            figures = Figures(fault.name)
            try:
                self.runFault(fault, n, figures)
            finally:
                report(figures)
        print(
            f"\n[faults] test bed up in {self.startedIn:.1f} s; "
            f"the {len(faults)} faults in {time.monotonic() - wall:.1f} s"
        )


def report(figures: Figures) -> None:
    lines = {
        "saves acknowledged": f"{figures.acknowledged} ({figures.confirmed} × 200, "
        f"{figures.pending} × 202 pendiente); first attempt answered 503: {figures.refused}",
        "stored / doubled / lost": f"{figures.stored} / {figures.doubled} / {figures.lost}"
        f" ({figures.unacknowledgedStored} stored after a 503)",
        "saves wholly inside the fault": f"{figures.inside}",
        "record notifications": f"{figures.records} new bests, {figures.notifications} "
        f"stored, {figures.notificationsDoubled} doubled",
        "fault": f"{figures.outage:.1f} s",
        "/api/salud during it": figures.health,
        "outbox at mid-fault": f"{figures.outboxPeak}",
        "serving normally again": f"{figures.recovery:.1f} s after the heal",
        "outbox empty": f"{figures.drained:.1f} s after the heal",
        "slowest request": f"{figures.slowest:.1f} s ({figures.slowestWhat})",
        **{key: str(value) for key, value in figures.extra.items()},
    }
    width = max(len(key) for key in lines)
    print(f"\n[faults] {figures.name}")
    for key, value in lines.items():
        print(f"  {key:<{width}}  {value}")
