"""
juego on several nodes, on one machine: a fresh PostgreSQL database (migrated with
C{juego-admin db upgrade}), two juego-web, two juego-tcp and one juego-dist as processes,
and nginx in front: its http port balances the web nodes (WebSocket included), its stream
port balances the score nodes, and the web nodes reach juego-tcp only through it (as in
C{deploy/nginx.conf}).

Skipped when nginx (with its stream module) is missing, unless C{JUEGO_REQUIRE_NGINX} is set
(CI), where that is a failure; PostgreSQL follows L{tests.support} (C{JUEGO_REQUIRE_POSTGRES}).
"""

from __future__ import annotations

import http.client
import json
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from juego.web.drain import DRAIN_GRACE
from tests.keystrokes import pacedWord
from tests.nginx import OP_TEXT, Nginx, WebSocket, WebSocketClosed, requireNginx
from tests.processes import CHECKOUT, ServiceProcess, freePorts, serviceEnvironment
from tests.support import postgresDatabaseURL, selfSigned

DEPLOY_EXAMPLE = CHECKOUT / "deploy" / "nginx.conf"
PASSWORD = "contraseña-de-prueba"
RECORD = "¡Nuevo récord personal: {} puntos!"
#: The last event of a game played at once must not pass the real time + 2 s (the contract).
MAX_GAME_MS = 1900
#: Concurrent saves: threads, games per thread, players they share (two threads each).
THREADS, GAMES, PLAYERS = 16, 12, 8
WS_PATH = "/api/notificaciones/ws"
#: Players playing through nginx at once during the rolling restart.
LOAD_THREADS = 4

log = Logger()


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    """
    Call C{check} until it stops raising L{AssertionError}; its last error after C{timeout}.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


def freshDatabase(case: SynchronousTestCase) -> str:
    """
    A new PostgreSQL database for this test, dropped (connections and all) when it ends.
    """
    return postgresDatabaseURL(case, "juego_mn_")


def migrate(url: str) -> None:
    """
    The operator's way: C{juego-admin db upgrade --database URL}.
    """
    result = subprocess.run(
        [sys.executable, "-m", "juego.admin", "db", "upgrade", "--database", url],
        env=serviceEnvironment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0 or "Esquema en la versión" not in result.stdout:
        raise AssertionError(f"juego-admin db upgrade failed:\n{result.stdout}\n{result.stderr}")


def loopback(port: int) -> str:
    return f"tcp:{port}:interface=127.0.0.1"


class Player:
    """
    One player's HTTP client: JSON in and out, the session cookie kept.
    """

    def __init__(self, email: str, nombre: str) -> None:
        self.email, self.nombre = email, nombre
        self.cookie: str | None = None
        self.id: int | None = None

    def request(
        self,
        port: int,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float = 15.0,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Accept": "application/json"}
        data = None
        if method != "GET":
            # As a browser sends it: the Origin must match the Host the web node sees,
            # so this also shows that nginx passes the client's Host (with its port) on.
            headers["Origin"] = f"http://127.0.0.1:{port}"
            headers["Content-Type"] = "application/json"
            data = json.dumps(body or {}).encode("utf-8")
        if self.cookie is not None:
            headers["Cookie"] = self.cookie
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                pair = header.split(";", 1)[0]
                if pair.startswith("juego_sesion="):
                    self.cookie = pair if pair != "juego_sesion=" else None
        finally:
            conn.close()
        try:
            reply = json.loads(raw) if raw else {}
        except ValueError:
            reply = {"raw": raw[:300].decode("utf-8", "replace")}
        return response.status, reply

    def register(self, port: int) -> None:
        status, reply = self.request(
            port,
            "POST",
            "/api/registro",
            {"nombre": self.nombre, "email": self.email, "password": PASSWORD},
        )
        if status != 201:
            raise AssertionError(f"registro on :{port} answered {status}: {reply}")
        self.id = reply["user"]["id"]


def events(palabras: Sequence[str], words: int) -> tuple[list[dict[str, Any]], int]:
    """
    Events typing the first C{words} words at a brisk human pace (as many as fit within
    the real time since the partida was issued), and the score they make.
    """
    rng = random.Random(words)
    eventos, t, puntaje = [], 0, 0
    for palabra in palabras[:words]:
        step, teclas = pacedWord(palabra, rng)
        if t + step > MAX_GAME_MS:
            break
        t += step
        eventos.append({"t": t, "ok": True, "errores": 0, "teclas": teclas})
        puntaje += len(palabra)  # level 1: one point a letter
    return eventos, puntaje


class Ledger:
    """
    Every save the test saw accepted, per player, to check the database against.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.saves: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)

    def add(self, userID: int, puntaje: int, reply: dict[str, Any]) -> None:
        with self._lock:
            self.saves[userID].append((puntaje, reply))

    def expected(self) -> dict[int, tuple[int, int, int, int]]:
        """
        user id -> (best, games, total, new records)
        """
        with self._lock:
            return {
                userID: (
                    max(p for p, _ in saves),
                    len(saves),
                    sum(p for p, _ in saves),
                    sum(1 for _, r in saves if r["nuevo_record"]),
                )
                for userID, saves in self.saves.items()
            }


class Cluster:
    """
    nginx, 2 × juego-tcp, juego-dist and 2 × juego-web on loopback, one database.
    """

    def __init__(
        self, case: SynchronousTestCase, url: str, nginxBinary: str, loadStream: str
    ) -> None:
        self.directory = Path(case.mktemp()).resolve()
        self.directory.mkdir(parents=True)
        webA, webB, tcp1, tcp2, dist, httpPort, streamPort = freePorts(7)
        self.httpPort, self.streamPort = httpPort, streamPort
        self.webPorts, self.tcpPorts, self.distPort = [webA, webB], [tcp1, tcp2], dist
        env = {"JUEGO_SERVICE_SECRET": secrets.token_hex(16)}
        database = ["--database", url]
        # juego-tcp hands the record notifications it queues to juego-dist.
        tcpEnv = {**env, "DISTRIBUTED_HOST": "127.0.0.1", "DISTRIBUTED_PORT": str(dist)}
        self.tcp = [
            ServiceProcess(
                "juego-tcp", ["--listen", loopback(p), *database], str(self.directory), p, tcpEnv
            )
            for p in self.tcpPorts
        ]
        self.dist = ServiceProcess(
            "juego-dist", ["--listen", loopback(dist), *database], str(self.directory), dist, env
        )
        webEnv = {
            **env,
            # Players here play game after game at machine speed: no per-node rate limits.
            "JUEGO_RATE_LIMITS": "off",
            # juego-tcp through nginx's stream port; juego-dist directly.
            "TCP_PERSIST_HOST": "127.0.0.1",
            "TCP_PERSIST_PORT": str(streamPort),
            "DISTRIBUTED_HOST": "127.0.0.1",
            "DISTRIBUTED_PORT": str(dist),
            # As deploy/nginx.conf says: the public name (here the balancer's address),
            # and the balancer as the trusted proxy.
            "JUEGO_ALLOWED_HOSTS": "127.0.0.1",
            "JUEGO_TRUSTED_PROXIES": "127.0.0.1",
        }
        self.web = [
            ServiceProcess(
                "juego-web", ["--listen", loopback(p), *database], str(self.directory), p, webEnv
            )
            for p in self.webPorts
        ]
        self.nginx = Nginx(
            nginxBinary,
            loadStream,
            self.directory / "nginx",
            httpPort,
            streamPort,
            self.webPorts,
            self.tcpPorts,
        )
        case.addCleanup(self.stop)

    @property
    def services(self) -> list[ServiceProcess]:
        return [*self.tcp, self.dist, *self.web]

    def start(self) -> None:
        # The back ends first (together), then nginx (a connection to its stream port
        # while no score node listens would mark them all down for fail_timeout), then
        # the web nodes, which find everything at once.
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(ServiceProcess.start, [*self.tcp, self.dist]))
        self.nginx.start()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(ServiceProcess.start, self.web))
        anonymous = Player("", "")
        for port in [*self.webPorts, self.httpPort]:

            def serving(port: int = port) -> None:
                status, reply = anonymous.request(port, "GET", "/api/stats/global")
                assert status == 200, (port, status, reply)

            eventually(serving, timeout=15)

    def stop(self) -> None:
        """
        SIGTERM to every service at once, then wait for each (SIGKILL after 20 s).
        """
        running = [
            s.process for s in self.services if s.process is not None and s.process.poll() is None
        ]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.nginx.stop()

    def logs(self) -> str:
        parts = [f"--- nginx error.log ---\n{self.nginx.errorLog()[-3000:]}"]
        for service in self.services:
            parts.append(f"--- {service.plugin} :{service.port} ---\n{service.log()[-3000:]}")
        return "\n".join(parts)


class DeployExampleTests(SynchronousTestCase):
    """
    C{deploy/nginx.conf} is a configuration nginx accepts (C{nginx -t}), with only its
    machine-specific paths moved into a temporary directory.
    """

    def test_nginxAcceptsTheDeploymentExample(self) -> None:
        binary, loadStream = requireNginx()
        directory = Path(self.mktemp()).resolve()
        directory.mkdir(parents=True)
        certificate, key = selfSignedCertificate(directory)
        config = DEPLOY_EXAMPLE.read_text()
        temps = "".join(
            f"\n    {kind}_temp_path {directory}/tmp/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        ports = iter(freePorts(12))
        rewrites: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
            # nginx -t binds the listening sockets: loopback ports of our own instead.
            (r"(?m)^(\s*listen\s+)[^\s;]+", lambda m: f"{m.group(1)}127.0.0.1:{next(ports)}"),
            (r"(?m)^load_module .*;$", loadStream),
            (r"(?m)^user .*;$", ""),
            (r"(?m)^pid .*;$", f"pid {directory}/nginx.pid;"),
            (r"/var/log/nginx/", f"{directory}/"),
            (r"(?m)(ssl_certificate\s+)\S+;", rf"\g<1>{certificate};"),
            (r"(?m)(ssl_certificate_key\s+)\S+;", rf"\g<1>{key};"),
            (r"(?m)^http \{$", "http {" + temps),
        ]
        for pattern, replacement in rewrites:
            config, n = re.subn(pattern, replacement, config)
            self.assertGreater(n, 0, f"deploy/nginx.conf has no {pattern!r} any more")
        (directory / "tmp").mkdir()
        (directory / "nginx.conf").write_text(config)
        result = subprocess.run(
            [
                binary,
                "-t",
                "-p",
                f"{directory}/",
                "-e",
                str(directory / "error.log"),
                "-c",
                str(directory / "nginx.conf"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(result.returncode, 0, result.stderr)


def selfSignedCertificate(directory: Path) -> tuple[Path, Path]:
    keyPath, certPath = selfSigned(str(directory), "juego.example.org")
    return Path(certPath), Path(keyPath)


class MultiNodeTests(SynchronousTestCase):
    def setUp(self) -> None:
        binary, loadStream = requireNginx()
        url = freshDatabase(self)
        migrate(url)
        self.engine = create_engine(url)
        self.addCleanup(self.engine.dispose)
        self.cluster = Cluster(self, url, binary, loadStream)
        self.ledger = Ledger()
        self.timings: dict[str, float] = {}
        started = time.monotonic()
        try:
            self.cluster.start()
        except Exception as e:
            raise AssertionError(f"the cluster did not start: {e}\n{self.cluster.logs()}") from e
        self.timings["start"] = time.monotonic() - started

    def test_twoWebNodesTwoScoreNodesBehindNginx(self) -> None:
        try:
            for step in (
                self.sessionMadeOnOneNodeWorksOnTheOther,
                self.notificationFromOneNodeReachesASocketOnTheOther,
                self.concurrentSavesThroughBothScoreNodesKeepCountsRight,
                self.racersOnTwoNodesShareARoom,
                self.foreignHostsAndMetricsStopAtTheEdge,
                self.losingAWebNodeLeavesTheSiteServing,
                self.bothScoreNodesCarriedSaves,
            ):
                started = time.monotonic()
                step()
                self.timings[step.__name__] = time.monotonic() - started
        except Exception as e:
            raise AssertionError(f"{e}\n{self.cluster.logs()}") from e
        log.info("multi-node steps took {timings}", timings=self.timings)

    def test_rollingRestartUnderSteadyLoadLosesNothing(self) -> None:
        """
        Each web node in turn gets SIGTERM while players keep playing through nginx, and
        is started again: not one request fails, each stopped node exits cleanly within
        its drain's bound, and a WebSocket on it gets a close frame (1001).
        """
        try:
            self.rollingRestart()
        except Exception as e:
            raise AssertionError(f"{e}\n{self.cluster.logs()}") from e

    def rollingRestart(self) -> None:
        players = [self.newPlayer(self.front, f"r{i}") for i in range(LOAD_THREADS)]
        failures: list[str] = []
        counts: dict[str, int] = defaultdict(int)
        issued: list[int] = []
        lock = threading.Lock()
        stop = threading.Event()

        def expect(what: str, got: tuple[int, dict[str, Any]], wanted: int) -> bool:
            with lock:
                counts[what] += 1
                if got[0] != wanted:
                    failures.append(f"{what}: {got[0]} {str(got[1])[:200]}")
                    return False
            return True

        def worker(player: Player) -> None:
            while not stop.is_set():
                reply = player.request(self.front, "POST", "/api/partidas", {"idioma": "es"})
                if not expect("POST /api/partidas", reply, 201):
                    continue
                partida = reply[1]["partida"]
                with lock:
                    issued.append(partida["id"])
                eventos, puntaje = events(partida["palabras"], 2)
                body = {"partida_id": partida["id"], "eventos": eventos}
                reply = player.request(self.front, "POST", "/api/guardar_puntaje", body)
                if expect("POST /api/guardar_puntaje", reply, 200):
                    assert player.id is not None
                    self.ledger.add(player.id, puntaje, reply[1])
                expect(
                    "GET /api/stats/usuario",
                    player.request(self.front, "GET", "/api/stats/usuario"),
                    200,
                )
                expect(
                    "GET /api/stats/global",
                    player.request(self.front, "GET", "/api/stats/global"),
                    200,
                )

        threads = [threading.Thread(target=worker, args=(p,)) for p in players]
        for thread in threads:
            thread.start()
        stopTimes = []
        try:
            for node in self.cluster.web:
                self.restartUnderLoad(node, players[0], counts, lock, stopTimes)
            # Load on for a while after the last restart too.
            with lock:
                before = sum(counts.values())
            eventually(lambda: self.assertGreater(sum(counts.values()), before + 40), timeout=30)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        total = sum(counts.values())
        log.info(
            "[rolling restart] {total} requests, {failed} failed, stops took {stops}",
            total=total,
            failed=len(failures),
            stops=stopTimes,
        )
        self.assertEqual(failures, [], f"{len(failures)} of {total} requests failed")
        self.assertGreater(total, 200)
        # No partida was left open by a request cut off half-way.
        with self.engine.connect() as conn:
            open_ = conn.execute(
                text("SELECT count(*) FROM partidas WHERE cerrada IS NULL AND id = ANY(:ids)"),
                {"ids": issued},
            ).scalar_one()
        self.assertEqual(open_, 0)
        self.checkConsistency(players)

    def restartUnderLoad(
        self,
        node: ServiceProcess,
        player: Player,
        counts: dict[str, int],
        lock: threading.Lock,
        stopTimes: list[float],
    ) -> None:
        def answered() -> int:
            with lock:
                return sum(counts.values())

        before = answered()
        eventually(lambda: self.assertGreater(answered(), before + 30), timeout=30)
        socket_ = self.openSocket(node.port, player)
        assert node.process is not None
        started = time.monotonic()
        node.process.send_signal(signal.SIGTERM)
        with self.assertRaises(WebSocketClosed) as closed:
            socket_.receiveText(timeout=15)
        self.assertEqual(closed.exception.code, 1001)
        status = node.process.wait(DRAIN_GRACE + 10)
        stopTimes.append(round(time.monotonic() - started, 2))
        self.assertEqual(status, -signal.SIGTERM)
        self.assertIn("Server Shut Down", node.log())
        self.assertNotIn("Traceback", node.log())
        stoppedAt = answered()
        eventually(lambda: self.assertGreater(answered(), stoppedAt + 30), timeout=30)
        logged = len(node.log())
        node.start()
        # nginx takes the node back once its fail_timeout has passed: wait until it
        # serves requests from the balancer again before the next node goes.
        eventually(lambda: self.assertIn("/api/", node.log()[logged:]), timeout=30)

    # helpers

    @property
    def nodeA(self) -> int:
        return self.cluster.webPorts[0]

    @property
    def nodeB(self) -> int:
        return self.cluster.webPorts[1]

    @property
    def front(self) -> int:
        return self.cluster.httpPort

    def newPlayer(self, port: int, tag: str) -> Player:
        player = Player(f"{tag}-{secrets.token_hex(4)}@example.com", f"Jugador {tag}")
        player.register(port)
        return player

    def play(
        self, player: Player, issuePort: int, savePort: int, words: int
    ) -> tuple[int, dict[str, Any]]:
        """
        Play one game (issued on one port, saved on another): its score and the save's reply.
        """
        status, reply = player.request(issuePort, "POST", "/api/partidas", {"idioma": "es"})
        if status != 201:
            raise AssertionError(f"partidas on :{issuePort} answered {status}: {reply}")
        partida = reply["partida"]
        eventos, puntaje = events(partida["palabras"], words)
        status, reply = player.request(
            savePort,
            "POST",
            "/api/guardar_puntaje",
            {"partida_id": partida["id"], "eventos": eventos},
        )
        if status != 200:
            raise AssertionError(f"guardar_puntaje on :{savePort} answered {status}: {reply}")
        if reply["puntaje"] != puntaje:
            raise AssertionError(f"scored {reply['puntaje']}, expected {puntaje}: {reply}")
        assert player.id is not None
        self.ledger.add(player.id, puntaje, reply)
        return puntaje, reply

    def openSocket(self, port: int, player: Player) -> WebSocket:
        assert player.cookie is not None
        ws = WebSocket.connect(
            port, WS_PATH, {"Cookie": player.cookie, "Origin": f"http://127.0.0.1:{port}"}
        )
        self.addCleanup(ws.close)
        return ws

    def receiveNotification(self, ws: WebSocket, timeout: float = 10.0) -> dict[str, Any]:
        message = json.loads(ws.receiveText(timeout))
        self.assertEqual(message["event"], "notification")
        notification: dict[str, Any] = message["notification"]
        return notification

    # (a)

    def sessionMadeOnOneNodeWorksOnTheOther(self) -> None:
        player = self.newPlayer(self.nodeA, "a")
        for port in (self.nodeB, self.front, self.front):
            status, reply = player.request(port, "GET", "/api/yo")
            self.assertEqual((status, reply["user"]["id"]), (200, player.id), port)
        # Signing out on B ends the session on A too; signing in again on A works on B.
        stale = Player(player.email, player.nombre)
        stale.cookie = player.cookie
        status, _ = player.request(self.nodeB, "POST", "/api/logout")
        self.assertEqual(status, 200)
        self.assertEqual(stale.request(self.nodeA, "GET", "/api/yo")[0], 401)
        status, _ = player.request(
            self.nodeA, "POST", "/api/login", {"email": player.email, "password": PASSWORD}
        )
        self.assertEqual(status, 200)
        self.assertEqual(player.request(self.nodeB, "GET", "/api/yo")[0], 200)

    # (b)

    def notificationFromOneNodeReachesASocketOnTheOther(self) -> None:
        player = self.newPlayer(self.nodeA, "b")
        onB = self.openSocket(self.nodeB, player)
        throughNginx = self.openSocket(self.front, player)
        puntaje, reply = self.play(player, self.nodeA, self.nodeA, words=3)
        self.assertTrue(reply["nuevo_record"], reply)
        for ws in (onB, throughNginx):
            notification = self.receiveNotification(ws)
            self.assertEqual(notification["user_id"], player.id)
            self.assertEqual(notification["message"], RECORD.format(puntaje))
            self.assertEqual(notification["type"], "success")
        onB.close()
        throughNginx.close()

    # races

    def raceMessage(
        self, ws: WebSocket, wanted: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        """
        The first race message on C{ws} that C{wanted} accepts (others pass by).
        """
        deadline = time.monotonic() + timeout
        while True:
            message: dict[str, Any] = json.loads(ws.receiveText(deadline - time.monotonic()))
            self.assertNotEqual(message["tipo"], "error", message)
            if wanted(message):
                return message

    def racersOnTwoNodesShareARoom(self) -> None:
        """
        A race with one racer on each web node: juego-dist owns the room, each node
        relays its racer; progress crosses nodes, results are saved through other nodes,
        and both see the same order.
        """
        ana, bea = self.newPlayer(self.nodeA, "ra"), self.newPlayer(self.nodeB, "rb")
        onA, onB = (
            WebSocket.connect(port, "/api/carrera/ws",
                              {"Cookie": p.cookie or "", "Origin": f"http://127.0.0.1:{port}"})
            for port, p in ((self.nodeA, ana), (self.nodeB, bea))
        )  # fmt: skip
        self.addCleanup(onA.close)
        self.addCleanup(onB.close)

        def say(ws: WebSocket, message: dict[str, Any]) -> None:
            ws.send(OP_TEXT, json.dumps(message).encode("utf-8"))

        say(onA, {"tipo": "buscar", "idioma": "es"})
        say(onB, {"tipo": "buscar", "idioma": "es"})
        partidas = [
            self.raceMessage(ws, lambda m: m["tipo"] == "partida")["partida"] for ws in (onA, onB)
        ]
        self.assertEqual(partidas[0]["palabras"], partidas[1]["palabras"])
        say(onA, {"tipo": "progreso", "palabra": 2, "letras": 0})

        def racer(message: dict[str, Any], player: Player) -> dict[str, Any]:
            return next(r for r in message["sala"]["corredores"] if r["id"] == player.id)

        self.raceMessage(onB, lambda m: m["tipo"] == "sala" and racer(m, ana)["progreso"] > 0)
        # Saved through the other node and through nginx: the verified results count.
        for player, partida, port, ws in ((ana, partidas[0], self.nodeB, onA),
                                          (bea, partidas[1], self.front, onB)):  # fmt: skip
            eventos, puntaje = events(partida["palabras"], 3)
            status, reply = player.request(
                port, "POST", "/api/guardar_puntaje",
                {"partida_id": partida["id"], "eventos": eventos},
            )  # fmt: skip
            self.assertEqual((status, reply["puntaje"]), (200, puntaje), reply)
            assert player.id is not None
            self.ledger.add(player.id, puntaje, reply)
            say(ws, {"tipo": "fin"})
        for ws in (onA, onB):
            final = self.raceMessage(
                ws, lambda m: m["tipo"] == "sala" and m["sala"]["estado"] == "terminada"
            )
            self.assertEqual(final["sala"]["orden"], [ana.id, bea.id])
        with self.engine.connect() as conn:
            saved = conn.execute(
                text(
                    "SELECT count(*) FROM partidas WHERE user_id IN (:a, :b) AND eventos IS NOT NULL"
                ),
                {"a": ana.id, "b": bea.id},
            ).scalar_one()
        self.assertEqual(saved, 2)

    # (c)

    def concurrentSavesThroughBothScoreNodesKeepCountsRight(self) -> None:
        ports = [self.front, self.nodeA, self.nodeB]
        players = [self.newPlayer(ports[i % 3], f"c{i}") for i in range(PLAYERS)]
        barrier = threading.Barrier(THREADS)

        def worker(n: int) -> None:
            rand = random.Random(n)
            player = players[n % PLAYERS]
            barrier.wait(30)
            for game in range(GAMES):
                # Longer games as it goes on: many new records, so many changes to the
                # shared best histogram from both score nodes at once.
                words = rand.randint(1, 2 + game // 3)
                self.play(player, ports[(n + game) % 3], ports[(n + game + 1) % 3], words)

        with ThreadPoolExecutor(THREADS) as pool:
            for future in [pool.submit(worker, n) for n in range(THREADS)]:
                future.result()
        self.assertEqual(sum(len(s) for s in self.ledger.saves.values()), THREADS * GAMES + 1)
        self.checkConsistency(players)

    # hosts and /metrics

    def rawGet(self, port: int, path: str, host: str) -> tuple[int, bytes] | None:
        """
        GET C{path} with C{Host: host}: the status and body, or L{None} when the
        connection is closed without an answer (nginx's 444).
        """
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            connection.putrequest("GET", path, skip_host=True)
            connection.putheader("Host", host)
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.read()
        except http.client.RemoteDisconnected:
            return None
        finally:
            connection.close()

    def foreignHostsAndMetricsStopAtTheEdge(self) -> None:
        front, node = f"127.0.0.1:{self.front}", f"127.0.0.1:{self.nodeA}"
        # nginx answers nothing for a name it does not serve; the node itself says 400.
        self.assertIsNone(self.rawGet(self.front, "/", "evil.example"))
        status, body = self.rawGet(self.nodeA, "/", "evil.example") or (0, b"")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["code"], "host_no_permitido")
        # /metrics does not exist through nginx; a scraper on the node's network reads it.
        self.assertEqual((self.rawGet(self.front, "/metrics", front) or (0,))[0], 404)
        self.assertEqual((self.rawGet(self.front, "/metrics/", front) or (0,))[0], 404)
        self.assertEqual((self.rawGet(self.front, "//metrics", front) or (0,))[0], 404)
        self.assertEqual((self.rawGet(self.nodeA, "/metrics", node) or (0,))[0], 200)

    # (d)

    def losingAWebNodeLeavesTheSiteServing(self) -> None:
        player = self.newPlayer(self.front, "d")
        statuses: list[int] = []
        stop = threading.Event()

        def poll() -> None:
            paths = ("/api/yo", "/api/stats/global", "/api/ranking", "/api/stats/usuario")
            n = 0
            while not stop.is_set():
                statuses.append(player.request(self.front, "GET", paths[n % len(paths)])[0])
                n += 1

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            eventually(lambda: self.assertGreaterEqual(len(statuses), 10))
            self.cluster.web[0].kill()
            killedAt = len(statuses)
            # Well past the failover: many requests answered after the kill.
            eventually(lambda: self.assertGreaterEqual(len(statuses), killedAt + 40), timeout=20)
        finally:
            stop.set()
            poller.join(30)
        self.assertGreater(len(statuses), 20)
        self.assertEqual([s for s in statuses if s != 200], [], f"{len(statuses)} requests")
        assert self.cluster.web[0].process is not None
        self.assertEqual(self.cluster.web[0].process.returncode, -signal.SIGKILL)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.nodeA), timeout=2).close()
        # Saves (POSTs) through nginx keep working.
        for game in range(4):
            self.play(player, self.front, self.front, words=1 + game)
        # nginx did meet the dead node, and went on to the other.
        self.assertIn(f"127.0.0.1:{self.nodeA}", self.cluster.nginx.errorLog())
        self.checkConsistency([player])

    # (c), from the balancer's books

    def bothScoreNodesCarriedSaves(self) -> None:
        """
        Stop the last web node (its connections to juego-tcp close, so nginx logs their
        sessions): each score node received well over its handshakes' worth of requests.
        """
        survivor = self.cluster.web[1]
        self.assertIn(survivor.stop(), (0, -signal.SIGTERM))
        expected = {f"127.0.0.1:{port}" for port in self.cluster.tcpPorts}

        def books() -> dict[str, tuple[int, int]]:
            sessions: dict[str, tuple[int, int]] = {}
            for line in self.cluster.nginx.streamLog().splitlines():
                _, upstream, sent, _, _ = line.split()
                if upstream in expected and int(sent) > 0:
                    count, total = sessions.get(upstream, (0, 0))
                    sessions[upstream] = (count + 1, total + int(sent))
            assert set(sessions) == expected, sessions
            return sessions

        sessions = eventually(books)
        for upstream, (count, sent) in sessions.items():
            # A handshake is two requests of under 200 bytes; a save_score is ~100 bytes.
            self.assertGreater(sent, count * 400 + 20 * 100, (upstream, count, sent))

    # the database against what the players were told

    def checkConsistency(self, players: Sequence[Player]) -> None:
        expected = self.ledger.expected()
        with self.engine.connect() as conn:
            aggregates = {
                r.user_id: (r.puntaje_maximo, r.partidas_jugadas, r.puntaje_total)
                for r in conn.execute(
                    text(
                        "SELECT user_id, puntaje_maximo, partidas_jugadas, puntaje_total FROM user_aggregates"
                    )
                )
            }
            scores = {
                r.user_id: (r.best, r.games, r.total, r.records)
                for r in conn.execute(
                    text(
                        "SELECT user_id, max(puntaje) AS best, count(*) AS games, sum(puntaje) AS total,"
                        " sum(CASE WHEN nuevo_record THEN 1 ELSE 0 END) AS records"
                        " FROM scores GROUP BY user_id"
                    )
                )
            }
            totals = conn.execute(
                text("SELECT usuarios, jugadores, suma_mejores, partidas FROM totals")
            ).one()
            bestCounts: dict[int, int] = {
                r.puntaje: r.jugadores
                for r in conn.execute(text("SELECT puntaje, jugadores FROM best_counts"))
            }
            users = conn.execute(text("SELECT count(*) FROM users")).scalar_one()
            unsaved = conn.execute(
                text(
                    "SELECT count(*) FROM partidas p WHERE p.estado IN ('publica', 'aprobada')"
                    " AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.clave = p.id)"
                )
            ).scalar_one()
        self.assertEqual(unsaved, 0)
        for userID, (best, games, total, records) in expected.items():
            self.assertEqual(aggregates[userID], (best, games, total), f"user {userID}")
            self.assertEqual(scores[userID], (best, games, total, records), f"user {userID}")
        players_ = [u for u, (_, games, _) in aggregates.items() if games]
        self.assertEqual(sorted(players_), sorted(expected))
        self.assertEqual(
            tuple(totals),
            (
                users,
                len(expected),
                sum(best for best, _, _, _ in expected.values()),
                sum(games for _, games, _, _ in expected.values()),
            ),
        )
        wanted: dict[int, int] = defaultdict(int)
        for best, _, _, _ in expected.values():
            wanted[best] += 1
        self.assertEqual(bestCounts, dict(wanted))
        for player in players:
            assert player.id is not None
            self.checkPlayerThroughServices(player, expected[player.id])
        self.checkRanking(expected)

    def checkPlayerThroughServices(
        self, player: Player, expected: tuple[int, int, int, int]
    ) -> None:
        best, games, _, records = expected
        status, reply = player.request(self.front, "GET", "/api/stats/usuario")
        self.assertEqual(status, 200, reply)
        stats = reply["stats"]
        self.assertEqual((stats["puntaje_maximo"], stats["partidas_jugadas"]), (best, games))
        replies = [r for _, r in self.ledger.saves[player.id]]  # type: ignore[index]
        self.assertEqual(max(r["puntaje_maximo"] for r in replies), best)
        self.assertTrue(all(r["puntaje_maximo"] >= r["puntaje"] for r in replies))

        # One record notification per save that answered nuevo_record (sent after the
        # reply: give it a moment).
        def notified() -> None:
            status, reply = player.request(self.front, "GET", "/api/notificaciones?limit=100")
            assert status == 200, reply
            got = [n for n in reply["notifications"] if n["message"].startswith("¡Nuevo récord")]
            assert len(got) == records, (player.id, len(got), records)

        eventually(notified)

    def checkRanking(self, expected: dict[int, tuple[int, int, int, int]]) -> None:
        status, reply = Player("", "").request(self.front, "GET", "/api/ranking?limit=100")
        self.assertEqual(status, 200, reply)
        ranking = reply["ranking"]
        self.assertEqual([e["posicion"] for e in ranking], list(range(1, len(ranking) + 1)))
        bests = [e["puntaje_maximo"] for e in ranking]
        self.assertEqual(bests, sorted(bests, reverse=True))
        ranked = {e["user_id"]: e["puntaje_maximo"] for e in ranking}
        for userID, (best, _, _, _) in expected.items():
            if best > 0:
                self.assertEqual(ranked.get(userID), best, f"user {userID}")
