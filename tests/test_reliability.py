"""
Reliability under failure (issue 5): the three services as separate real processes
(C{twistd -n juego-web}, C{juego-tcp}, C{juego-dist}) over one SQLite file, driven over
HTTP by concurrent players, while the back-end services are killed and restarted.

  - 1,000 verified saves; juego-tcp is SIGKILLed a third of the way in, the web keeps
    answering (202 C{pendiente}), juego-tcp comes back on the same port, the outbox
    drains: every accepted save is stored exactly once and every player's aggregates are
    what the accepted saves imply.
  - a second round of saves that set new records; juego-dist is SIGKILLed in the middle
    and restarted: every new best has exactly one record notification.
  - SIGTERM to juego-tcp while saves are in flight (from the web, and pipelined on a
    direct connection): by the time it has exited, every save answered success is
    stored and every save stored was answered; it exits cleanly.

The figures are printed; docs/OPERATIONS.md ("Reliability") records a run. Plain
SynchronousTestCase: trial's reactor never runs, the load comes from threads with
C{http.client}.
"""

from __future__ import annotations

import http.client
import json
import random
import secrets
import signal
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select
from twisted.trial.unittest import SynchronousTestCase

from juego.game.rules import MS_HUMANO_POR_LETRA, longitud, puntos
from juego.store import schema as s
from juego.wire import auth
from tests.keystrokes import PASO_HUMANO_MS, pacedWord
from tests.processes import ServiceProcess, freePort
from tests.records import checkRecordNotifications

#: Players signed up over HTTP, and worker threads (one HTTP connection each).
PLAYERS = 8
WORKERS = 8
#: Verified saves in the first round (juego-tcp killed and restarted during it).
SAVES = 1000
#: juego-tcp is killed once this many saves were accepted ...
KILL_TCP_AT = SAVES // 3
#: ... and started again once the web has answered this many saves 202 pendiente.
TCP_DOWN_FOR = 300
#: Saves in the second round (juego-dist killed after a third, back after two thirds).
RECORD_SAVES = 240
#: Saves in the graceful-stop run (SIGTERM to juego-tcp after GRACEFUL_STOP_AT).
GRACEFUL_SAVES = 240
GRACEFUL_STOP_AT = 60

#: Bounds on every wait (none of them is a fixed sleep: each polls a condition).
START_TIMEOUT = 30.0
PROGRESS_TIMEOUT = 60.0
DRAIN_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0
#: Worker errors (transport failures, unexpected statuses) after which the run stops.
MAX_ERRORS = 20

#: The last event may be this far ahead of the time since the partida was issued (the
#: rules allow 2,000 ms).
AHEAD_MS = 1500

# -- the system ------------------------------------------------------------------


class System:
    """
    juego-tcp, juego-dist and juego-web as three processes over one SQLite file, each
    on a free loopback port, sharing a service secret.
    """

    PLUGINS = {"tcp": "juego-tcp", "dist": "juego-dist", "web": "juego-web"}

    def __init__(self, case: SynchronousTestCase) -> None:
        self.directory = Path(case.mktemp()).resolve()
        self.directory.mkdir(parents=True)
        self.databasePath = self.directory / "juego.db"
        self.databaseURL = f"sqlite:///{self.databasePath}"
        self.ports = {name: freePort() for name in self.PLUGINS}
        self.env = {
            "JUEGO_SERVICE_SECRET": secrets.token_hex(16),
            "TCP_PERSIST_HOST": "127.0.0.1",
            "TCP_PERSIST_PORT": str(self.ports["tcp"]),
            "DISTRIBUTED_HOST": "127.0.0.1",
            "DISTRIBUTED_PORT": str(self.ports["dist"]),
            "JUEGO_DATABASE_URL": self.databaseURL,
            # Hundreds of games per player in a minute: no per-node rate limits.
            "JUEGO_RATE_LIMITS": "off",
            "PYTHONIOENCODING": "utf-8",
        }
        self.processes: dict[str, ServiceProcess] = {}
        self.starts: Counter[str] = Counter()
        self._engine: Any = None
        case.addCleanup(self.stopAll)

    def start(self, name: str) -> ServiceProcess:
        port = self.ports[name]
        self.starts[name] += 1
        service = ServiceProcess(
            self.PLUGINS[name],
            ["--listen", f"tcp:{port}:interface=127.0.0.1", "--database", self.databaseURL],
            str(self.directory),
            port,
            self.env,
        )
        # A log per run, so that each shutdown is judged on its own log.
        service.logPath = str(self.directory / f"{name}-{self.starts[name]}.log")
        self.processes[name] = service
        service.start()
        return service

    def startAll(self) -> None:
        # juego-tcp first: it migrates the new database; the others find it done.
        self.start("tcp")
        self.start("dist")
        self.start("web")

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def stopAll(self) -> None:
        for service in self.processes.values():
            service.stop()
            if service.process is not None and service.process.stderr is not None:
                service.process.stderr.close()
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = create_engine(self.databaseURL)
        return self._engine

    def query(self, statement: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(statement))

    def outboxRows(self, kind: str | None = None) -> int:
        """
        Work waiting in juego-web's outbox and in juego-tcp's (the record notifications
        its commits queue for juego-dist).
        """
        total = 0
        for table in s.OUTBOXES:
            query = select(func.count()).select_from(table)
            if kind is not None:
                query = query.where(table.c.kind == kind)
            total += self.query(query)[0][0]
        return total

    def waitForEmptyOutbox(self, timeout: float = DRAIN_TIMEOUT) -> float:
        """
        Poll the outboxes until they are empty; the seconds it took.
        """
        started = time.monotonic()
        while self.outboxRows():
            if time.monotonic() - started > timeout:
                raise AssertionError(
                    f"the outbox still holds {self.outboxRows()} rows after {timeout} s\n"
                    + self.logTails()
                )
            time.sleep(0.1)
        return time.monotonic() - started

    def logTails(self, lines: int = 30) -> str:
        parts = []
        for name, service in self.processes.items():
            tail = "\n".join(service.log().splitlines()[-lines:])
            parts.append(f"--- {name} ({service.logPath}) ---\n{tail}")
        return "\n".join(parts)


# -- players and the HTTP driver ---------------------------------------------------


@dataclass
class Player:
    index: int
    email: str
    id: int = 0
    cookie: str = ""


class Web:
    """
    One keep-alive HTTP connection to juego-web (one per worker thread).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)

    def close(self) -> None:
        self.connection.close()

    def post(
        self, path: str, body: dict[str, Any], cookie: str = ""
    ) -> tuple[int, dict[str, Any], Any]:
        headers = {
            "Content-Type": "application/json",
            "Origin": f"http://127.0.0.1:{self.port}",
            "Host": f"127.0.0.1:{self.port}",
        }
        if cookie:
            headers["Cookie"] = cookie
        self.connection.request("POST", path, json.dumps(body).encode("utf-8"), headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, json.loads(data), response


def register(port: int, player: Player) -> Player:
    web = Web(port)
    try:
        status, reply, response = web.post(
            "/api/registro",
            {
                "nombre": f"Jugadora {player.index}",
                "email": player.email,
                "password": "contraseña-segura",
            },
        )
    finally:
        web.close()
    if status != 201:
        raise AssertionError(f"registro answered {status}: {reply}")
    cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
    if not cookie.startswith("juego_sesion="):
        raise AssertionError(f"no session cookie: {response.getheaders()}")
    player.id, player.cookie = reply["user"]["id"], cookie
    return player


def issue(web: Web, player: Player) -> tuple[dict[str, Any], float]:
    """
    A new partida for C{player}, and when (monotonic) its reply arrived: the server
    issued it before then.
    """
    status, reply, _ = web.post("/api/partidas", {"idioma": "es"}, player.cookie)
    if status != 201:
        raise WorkerError(f"partidas answered {status}: {reply}")
    return reply["partida"], time.monotonic()


def typed(
    palabras: Sequence[str], words: int, rng: random.Random
) -> tuple[list[dict[str, Any]], int]:
    """
    Events for typing the first C{words} words at a brisk human pace (irregular keys, as
    a person types: every one is published at once), and the score they make.
    """
    eventos: list[dict[str, Any]] = []
    t = 0
    puntaje = 0
    for i, palabra in enumerate(palabras[:words]):
        d, teclas = pacedWord(palabra, rng)
        t += d
        eventos.append({"t": t, "ok": True, "errores": rng.randint(0, 2), "teclas": teclas})
        puntaje += puntos(i, palabra)
    return eventos, puntaje


def mostWords(palabras: Sequence[str], budgetMs: float) -> int:
    """
    The most words that can be typed (at the pace of L{typed}) within C{budgetMs}.
    """
    t = 0
    for n, palabra in enumerate(palabras):
        t += max(PASO_HUMANO_MS, MS_HUMANO_POR_LETRA) * longitud(palabra)
        if t > budgetMs:
            return n
    return len(palabras)


class WorkerError(Exception):
    pass


@dataclass
class Save:
    """
    One save as the client saw it.
    """

    player: Player
    partida: str
    expected: int
    status: int | None = None
    reply: dict[str, Any] = field(default_factory=dict)
    #: The scenario's window (e.g. "tcp down") when the job began and when it was answered.
    began: str = ""
    phase: str = ""

    @property
    def accepted(self) -> bool:
        return self.status in (200, 202) and self.reply.get("success") is True

    @property
    def pending(self) -> bool:
        return self.status == 202 and self.reply.get("pendiente") is True

    def within(self, phase: str) -> bool:
        """
        Whether the whole save (partida issued, result sent, reply) fell in C{phase}.
        """
        return self.began == self.phase == phase


#: One job: given a worker's connection and a random source, make and send a save.
Job = Callable[[Web, random.Random], Save]


class Driver:
    """
    Runs jobs on WORKERS threads (one connection each) and counts the outcomes, so the
    test thread can act when a number of saves were accepted.
    """

    def __init__(self, port: int, jobs: Sequence[Job], seed: int) -> None:
        self.port = port
        self._jobs: Iterator[tuple[int, Job]] = iter(enumerate(jobs))
        self._seed = seed
        self.saves: list[Save] = []
        self.accepted = 0
        self.pending = 0
        self.errors: list[str] = []
        self.phase = ""
        self.finished = False
        self._condition = threading.Condition()
        self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="player")
        self._futures: list[Any] = []
        self._cancelled = False

    def start(self) -> Driver:
        self._futures = [self._executor.submit(self._work, n) for n in range(WORKERS)]
        return self

    def _next(self) -> tuple[int, Job] | None:
        with self._condition:
            if len(self.errors) >= MAX_ERRORS or self._cancelled:
                return None
            return next(self._jobs, None)

    def _work(self, worker: int) -> None:
        web = Web(self.port)
        try:
            while (item := self._next()) is not None:
                number, job = item
                rng = random.Random(self._seed * 1_000_003 + number)
                began = self.phase
                try:
                    save = job(web, rng)
                except (OSError, http.client.HTTPException, ValueError, WorkerError) as e:
                    web.close()
                    web = Web(self.port)
                    with self._condition:
                        self.errors.append(f"job {number}: {type(e).__name__}: {e}")
                        self._condition.notify_all()
                    continue
                with self._condition:
                    save.began, save.phase = began, self.phase
                    self.saves.append(save)
                    if save.accepted:
                        self.accepted += 1
                        self.pending += save.pending
                    else:
                        self.errors.append(f"job {number}: {save.status} {save.reply}")
                    self._condition.notify_all()
        finally:
            web.close()
            with self._condition:
                self._condition.notify_all()

    def setPhase(self, phase: str) -> None:
        with self._condition:
            self.phase = phase

    def waitUntil(
        self, condition: Callable[[], bool], what: str, timeout: float = PROGRESS_TIMEOUT
    ) -> None:
        """
        Wait until C{condition()} holds (checked under the driver's lock), or the jobs
        ran out, or too many failed.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while not condition() and not self._done() and len(self.errors) < MAX_ERRORS:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"not {what} after {timeout} s ({self.accepted} accepted)")
                self._condition.wait(min(left, 1.0))

    def waitAccepted(self, count: int) -> int:
        """
        Wait until C{count} saves were accepted; how many were.
        """
        self.waitUntil(lambda: self.accepted >= count, f"{count} saves accepted")
        return self.accepted

    def waitPending(self, count: int) -> int:
        """
        Wait until C{count} saves were answered 202 C{pendiente}; how many were.
        """
        self.waitUntil(lambda: self.pending >= count, f"{count} saves pending")
        return self.pending

    def confirmed(self) -> list[Save]:
        with self._condition:
            return [save for save in self.saves if save.status == 200]

    def _done(self) -> bool:
        return all(f.done() for f in self._futures)

    def cancel(self) -> None:
        """
        Start no more jobs, and wait for those under way (after a failed test).
        """
        with self._condition:
            self._cancelled = True
        self.join()

    def join(self, timeout: float = PROGRESS_TIMEOUT * 2) -> list[Save]:
        deadline = time.monotonic() + timeout
        for future in self._futures:
            future.result(max(0.1, deadline - time.monotonic()))
        self._executor.shutdown()
        return self.saves


def saveJob(
    player: Player,
    chooseWords: Callable[[Sequence[str], float, random.Random], int],
    partida: tuple[dict[str, Any], float] | None = None,
) -> Job:
    """
    A job that saves a game of C{player}: a new partida (or the one given, issued
    earlier), typed for C{chooseWords(palabras, budgetMs, rng)} words.
    """

    def job(web: Web, rng: random.Random) -> Save:
        theirs, received = partida if partida is not None else issue(web, player)
        palabras = theirs["palabras"]
        budget = (time.monotonic() - received) * 1000 + AHEAD_MS
        words = chooseWords(palabras, budget, rng)
        eventos, expected = typed(palabras, words, rng)
        status, reply, _ = web.post(
            "/api/guardar_puntaje", {"partida_id": theirs["id"], "eventos": eventos}, player.cookie
        )
        return Save(player, theirs["id"], expected, status, reply)

    return job


def someWords(palabras: Sequence[str], budgetMs: float, rng: random.Random) -> int:
    """
    A random number of words, one to as many as fit: scores vary, and the players' bests
    move now and then. (None would be a discarded game, which counts nowhere.)
    """
    return rng.randint(1, max(1, mostWords(palabras, budgetMs)))


def moreWords(minimum: int) -> Callable[[Sequence[str], float, random.Random], int]:
    """
    At least C{minimum} words (a partida issued long enough ago allows them), so that
    the game beats the player's best so far.
    """

    def choose(palabras: Sequence[str], budgetMs: float, rng: random.Random) -> int:
        return min(minimum + rng.randint(0, 2), mostWords(palabras, budgetMs))

    return choose


# -- a pipelined line-protocol client (the graceful-stop scenario) ------------------------


class Pipeline:
    """
    Keeps up to C{window} keyed C{save_score} requests in flight on one authenticated
    connection to juego-tcp, until the connection ends or L{stop} is called; records
    which keys were sent and every reply, with when it came.
    """

    def __init__(self, port: int, secret: str, userID: int, window: int = 64) -> None:
        self.userID = userID
        self.sent: dict[str, float] = {}
        self.replies: dict[str, tuple[dict[str, Any], float]] = {}
        self._window = threading.Semaphore(window)
        self._stop = threading.Event()
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT)
        self._file = self._sock.makefile("rwb")
        self._handshake(secret.encode())
        self._threads = [
            threading.Thread(target=self._write, name="pipeline-writer", daemon=True),
            threading.Thread(target=self._read, name="pipeline-reader", daemon=True),
        ]

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self._file.write(json.dumps(request).encode() + b"\n")
        self._file.flush()
        return json.loads(self._file.readline())

    def _handshake(self, secret: bytes) -> None:
        nonce = self._ask({"action": "auth_challenge"})["nonce"]
        clientNonce = auth.newNonce()
        reply = self._ask(
            {
                "action": "auth",
                "client_nonce": clientNonce,
                "proof": auth.clientProof(secret, nonce, clientNonce),
            }
        )
        if not auth.check(auth.serverProof(secret, nonce, clientNonce), reply.get("proof")):
            raise AssertionError(f"service handshake failed: {reply}")

    def start(self) -> Pipeline:
        for thread in self._threads:
            thread.start()
        return self

    def _write(self) -> None:
        n = 0
        try:
            while not self._stop.is_set():
                if not self._window.acquire(timeout=0.2):
                    continue
                key = f"directa-{n}"
                line = {
                    "action": "save_score",
                    "user_id": self.userID,
                    "puntaje": n % 500,
                    "idempotency_key": key,
                    "id": key,
                }
                self.sent[key] = time.monotonic()
                self._file.write(json.dumps(line).encode() + b"\n")
                self._file.flush()
                n += 1
        except (OSError, ValueError):
            pass  # the service went away

    def _read(self) -> None:
        try:
            while line := self._file.readline():
                reply = json.loads(line)
                self.replies[reply["id"]] = (reply, time.monotonic())
                self._window.release()
        except (OSError, ValueError):
            pass
        finally:
            self._stop.set()

    def stop(self, timeout: float = START_TIMEOUT) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        try:
            self._file.close()  # flushes what the writer left: the peer may be gone
        except OSError:
            pass
        self._sock.close()

    def succeeded(self) -> dict[str, float]:
        """
        The keys answered with success, and when.
        """
        return {key: when for key, (reply, when) in self.replies.items() if reply.get("success")}


# -- checks ---------------------------------------------------------------------------


@dataclass
class Figures:
    accepted: int = 0
    confirmed: int = 0
    pending: int = 0
    stored: int = 0
    duplicated: int = 0
    missing: int = 0
    notificationsExpected: int = 0
    notificationsStored: int = 0
    notificationsDuplicated: int = 0


class ReliabilityMixin:
    """
    Proofs over the database, shared by the scenarios.
    """

    system: System

    def checkScores(self, saves: Sequence[Save], players: Sequence[Player]) -> Figures:
        """
        Every accepted save is stored exactly once, as its reply said; each player's
        aggregates are what the accepted saves imply; the global counters agree with
        the rows.
        """
        case: Any = self
        accepted = [save for save in saves if save.accepted]
        allRows = self.system.query(
            select(
                s.scores.c.id,
                s.scores.c.clave,
                s.scores.c.user_id,
                s.scores.c.puntaje,
                s.scores.c.nuevo_record,
                s.scores.c.puntaje_maximo,
            ).order_by(s.scores.c.id)
        )
        playerIDs = {player.id for player in players}
        rows = [row for row in allRows if row.user_id in playerIDs]
        perKey = Counter(row.clave for row in allRows)
        byKey = {row.clave: row for row in rows}
        figures = Figures(
            accepted=len(accepted),
            confirmed=sum(save.status == 200 for save in accepted),
            pending=sum(save.pending for save in accepted),
            stored=len(rows),
            duplicated=sum(n - 1 for n in perKey.values() if n > 1),
            missing=sum(save.partida not in byKey for save in accepted),
        )
        case.assertEqual(figures.duplicated, 0, "a save was stored twice")
        case.assertEqual(figures.missing, 0, "an accepted save was not stored")
        case.assertEqual(set(byKey), {save.partida for save in accepted})
        case.assertEqual(len(rows), len(accepted))

        for save in accepted:
            row = byKey[save.partida]
            case.assertEqual((row.user_id, row.puntaje), (save.player.id, save.expected), save)
            case.assertEqual(save.reply["puntaje"], save.expected)
            if save.status == 200:
                # A confirmed save answered what was stored (a retry answers the same).
                case.assertEqual(
                    (save.reply["nuevo_record"], save.reply["puntaje_maximo"]),
                    (bool(row.nuevo_record), row.puntaje_maximo),
                    save,
                )

        # In commit order, each player's rows tell a consistent story of their best.
        best: dict[int, int] = defaultdict(int)
        for row in allRows:
            record = row.puntaje > best[row.user_id]
            best[row.user_id] = max(best[row.user_id], row.puntaje)
            case.assertEqual(
                (bool(row.nuevo_record), row.puntaje_maximo), (record, best[row.user_id]), row
            )

        played = Counter(save.player.id for save in accepted)
        maxima: dict[int, int] = defaultdict(int)
        for save in accepted:
            maxima[save.player.id] = max(maxima[save.player.id], save.expected)
        aggregates = {
            row.user_id: (row.partidas_jugadas, row.puntaje_maximo)
            for row in self.system.query(
                select(
                    s.user_aggregates.c.user_id,
                    s.user_aggregates.c.partidas_jugadas,
                    s.user_aggregates.c.puntaje_maximo,
                )
            )
        }
        for player in players:
            case.assertEqual(
                aggregates.get(player.id, (0, 0)), (played[player.id], maxima[player.id]), player
            )
        totals = self.system.query(select(s.totals.c.partidas, s.totals.c.jugadores))[0]
        case.assertEqual(totals.partidas, len(allRows))
        case.assertEqual(totals.jugadores, len({row.user_id for row in allRows}))
        return figures

    def checkRecordNotifications(self, figures: Figures, players: Sequence[Player]) -> Figures:
        """
        Each new best the players' games stored has exactly one record notification,
        with its text; they have no other record notification.
        """
        count = checkRecordNotifications(
            self, self.system.query, [player.id for player in players], "reliability"
        )
        figures.notificationsExpected = count.records
        figures.notificationsStored = count.notifications
        figures.notificationsDuplicated = count.duplicated
        return figures


def report(title: str, lines: dict[str, Any]) -> None:
    width = max(len(key) for key in lines)
    print(f"\n[reliability] {title}")
    for key, value in lines.items():
        print(f"  {key:<{width}}  {value}")


# -- the scenarios ---------------------------------------------------------------------


class ReliabilityTests(ReliabilityMixin, SynchronousTestCase):
    def setUp(self) -> None:
        started = time.monotonic()
        self.system = System(self)
        self.system.startAll()
        self.port = self.system.ports["web"]
        self.players = self.signUp(PLAYERS)
        self.startedIn = time.monotonic() - started

    def signUp(self, count: int, first: int = 0) -> list[Player]:
        players = [Player(i, f"jugadora{i}@example.com") for i in range(first, first + count)]
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda p: register(self.port, p), players))

    def drive(self, driver: Driver) -> Driver:
        self.addCleanup(driver.cancel)
        return driver.start()

    def finish(self, driver: Driver) -> list[Save]:
        saves = driver.join()
        if driver.errors:
            self.fail(
                f"{len(driver.errors)} saves failed: {driver.errors[:5]}\n{self.system.logTails()}"
            )
        return saves

    def issueAhead(self, count: int) -> list[tuple[Player, tuple[dict[str, Any], float]]]:
        """
        C{count} partidas issued now, to be played later (by then they allow long games).
        """
        issued: list[tuple[Player, tuple[dict[str, Any], float]]] = []
        lock = threading.Lock()

        def work(player: Player, n: int) -> None:
            web = Web(self.port)
            try:
                for _ in range(n):
                    partida = issue(web, player)
                    with lock:
                        issued.append((player, partida))
            finally:
                web.close()

        per = count // PLAYERS
        with ThreadPoolExecutor(PLAYERS) as pool:
            list(pool.map(work, self.players, [per] * PLAYERS))
        return issued

    def test_killAndRestartServices(self) -> None:
        """
        juego-tcp, then juego-dist, SIGKILLed and restarted under load: no accepted save
        lost or doubled, every record notified once.
        """
        wall = time.monotonic()
        system = self.system
        # The second round's partidas, issued before the first round: played after it,
        # they allow games long enough to beat every first-round best.
        ahead = self.issueAhead(RECORD_SAVES)

        # Round 1: juego-tcp killed after a third of the saves; started again once the
        # web answered TCP_DOWN_FOR saves 202 pendiente.
        jobs = [saveJob(self.players[n % PLAYERS], someWords) for n in range(SAVES)]
        round1 = time.monotonic()
        driver = self.drive(Driver(self.port, jobs, seed=1))
        driver.setPhase("tcp up")
        driver.waitAccepted(KILL_TCP_AT)
        system.kill("tcp")
        driver.setPhase("tcp down")
        driver.waitPending(TCP_DOWN_FOR)
        driver.setPhase("tcp restarting")
        restarting = time.monotonic()
        system.start("tcp")
        restartSeconds = time.monotonic() - restarting
        driver.setPhase("tcp back")
        saves1 = self.finish(driver)
        round1Seconds = time.monotonic() - round1
        pendingRows = system.outboxRows("save_score")
        drain1 = system.waitForEmptyOutbox()
        figures1 = self.checkScores(saves1, self.players)
        self.assertEqual(figures1.accepted, SAVES)
        self.assertGreaterEqual(figures1.pending, TCP_DOWN_FOR)
        down = [save for save in saves1 if save.within("tcp down")]
        self.assertGreater(len(down), 0)
        self.assertEqual([save for save in down if not save.pending], [])
        self.checkRecordNotifications(figures1, self.players)

        # Round 2: every game tries to beat the player's best so far; juego-dist killed
        # after a third, back after two thirds.
        rounds: Counter[int] = Counter()
        jobs = []
        for player, partida in ahead:
            rounds[player.id] += 1
            jobs.append(saveJob(player, moreWords(12 + 3 * rounds[player.id]), partida))
        round2 = time.monotonic()
        driver = self.drive(Driver(self.port, jobs, seed=2))
        driver.setPhase("dist up")
        driver.waitAccepted(len(jobs) // 3)
        system.kill("dist")
        driver.setPhase("dist down")
        driver.waitAccepted(2 * len(jobs) // 3)
        queuedNotifications = system.outboxRows("add_notification")
        driver.setPhase("dist restarting")
        system.start("dist")
        driver.setPhase("dist back")
        saves2 = self.finish(driver)
        round2Seconds = time.monotonic() - round2
        drain2 = system.waitForEmptyOutbox()
        everything = saves1 + saves2
        figures = self.checkScores(everything, self.players)
        self.checkRecordNotifications(figures, self.players)
        # Saving does not need juego-dist.
        self.assertEqual([save for save in saves2 if save.status != 200], [])
        recordsWhileDown = sum(
            bool(save.reply.get("nuevo_record")) for save in saves2 if save.within("dist down")
        )
        self.assertGreater(recordsWhileDown, 0)
        self.assertGreater(queuedNotifications, 0)
        wallSeconds = time.monotonic() - wall + self.startedIn

        report(
            "juego-tcp SIGKILLed and restarted (round 1)",
            {
                "saves accepted": f"{figures1.accepted} of {SAVES} "
                f"({figures1.confirmed} × 200, {figures1.pending} × 202 pendiente)",
                "juego-tcp": f"killed after {KILL_TCP_AT} accepted, restarted after "
                f"{TCP_DOWN_FOR} × 202 (start-up {restartSeconds:.1f} s)",
                "saves wholly inside the outage": f"{len(down)}, all 202 pendiente",
                "outbox when the round ended": f"{pendingRows} saves, drained in {drain1:.1f} s",
                "stored / duplicated / lost": f"{figures1.stored} / {figures1.duplicated} / {figures1.missing}",
                "record notifications": f"{figures1.notificationsExpected} expected, "
                f"{figures1.notificationsStored} stored, {figures1.notificationsDuplicated} duplicated",
                "round time": f"{round1Seconds:.1f} s ({SAVES / round1Seconds:.0f} saves/s)",
            },
        )
        report(
            "juego-dist SIGKILLed and restarted (round 2)",
            {
                "saves accepted": f"{len(saves2)} (all 200)",
                "new records while juego-dist was down": f"{recordsWhileDown} "
                f"({queuedNotifications} notifications queued in the outbox)",
                "stored / duplicated / lost (both rounds)": f"{figures.stored} / {figures.duplicated} / {figures.missing}",
                "record notifications (both rounds)": f"{figures.notificationsExpected} expected, "
                f"{figures.notificationsStored} stored, {figures.notificationsDuplicated} duplicated",
                "outbox drained in": f"{drain2:.1f} s",
                "round time": f"{round2Seconds:.1f} s",
                "wall time (start-up included)": f"{wallSeconds:.1f} s",
            },
        )

    def test_gracefulStop(self) -> None:
        """
        SIGTERM to juego-tcp while saves are in flight (from the web, and pipelined on a
        direct connection): it answers what it accepted, exits cleanly, and every save
        answered with success is stored, and only those.
        """
        wall = time.monotonic()
        system = self.system
        tcp = system.processes["tcp"]
        [direct] = self.signUp(1, first=PLAYERS)
        jobs = [saveJob(self.players[n % PLAYERS], someWords) for n in range(GRACEFUL_SAVES)]
        driver = self.drive(Driver(self.port, jobs, seed=3))
        driver.setPhase("tcp up")
        pipeline = Pipeline(
            system.ports["tcp"], system.env["JUEGO_SERVICE_SECRET"], direct.id
        ).start()
        self.addCleanup(pipeline.stop)
        driver.waitAccepted(GRACEFUL_STOP_AT)
        assert tcp.process is not None
        stopping = time.monotonic()
        tcp.process.send_signal(signal.SIGTERM)
        code = tcp.process.wait(START_TIMEOUT)
        stopSeconds = time.monotonic() - stopping
        driver.setPhase("tcp stopped")
        pipeline.stop()

        # The process is gone: whatever was confirmed must be stored now.
        confirmed = driver.confirmed()
        stored = {row.clave for row in system.query(select(s.scores.c.clave))}
        lost = [save.partida for save in confirmed if save.partida not in stored]
        succeeded = pipeline.succeeded()
        directStored = {key for key in stored if key.startswith("directa-")}
        self.assertEqual(lost, [])
        self.assertEqual(sorted(set(succeeded) - directStored), [], "answered but not stored")
        # A graceful stop answers what it stored: nothing committed goes unanswered.
        self.assertEqual(sorted(directStored - set(succeeded)), [], "stored but never answered")
        # (How many were still owed when the signal came is up to timing: reported.)
        answeredAfter = sum(when > stopping for when in succeeded.values())
        log = tcp.log()
        self.assertIn(code, (0, -signal.SIGTERM))
        self.assertIn("Server Shut Down", log)
        self.assertNotIn("Traceback", log)

        # The web keeps answering (202) while juego-tcp is away, then hands them over.
        pendingAtStop = driver.pending
        driver.waitPending(pendingAtStop + 20)
        driver.setPhase("tcp restarting")
        system.start("tcp")
        driver.setPhase("tcp back")
        saves = self.finish(driver)
        drain = system.waitForEmptyOutbox()
        figures = self.checkScores(saves, self.players)
        self.checkRecordNotifications(figures, self.players)
        report(
            "juego-tcp SIGTERMed under load",
            {
                "web saves confirmed (200) before it exited": f"{len(confirmed)}, lost {len(lost)}",
                "pipelined saves": f"{len(pipeline.sent)} sent, {len(succeeded)} answered "
                f"({answeredAfter} after the SIGTERM), {len(directStored)} stored",
                "stop": f"{stopSeconds:.2f} s, exit status {code}, 'Server Shut Down' logged",
                "web saves accepted": f"{figures.accepted} ({figures.confirmed} × 200, {figures.pending} × 202)",
                "stored / duplicated / lost": f"{figures.stored} / {figures.duplicated} / {figures.missing}",
                "outbox drained in": f"{drain:.1f} s",
                "wall time (start-up included)": f"{time.monotonic() - wall + self.startedIn:.1f} s",
            },
        )
