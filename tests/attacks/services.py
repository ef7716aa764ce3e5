"""
Attacks on the line services (issue 10, "Open services by default"), against real
processes.

The attack: a default install, no settings, and another local process (any user's) that
connects to juego-tcp and saves 2147483647 for anyone (it became #1 in /api/ranking),
reads every player's email with juego-dist's C{get_user_stats}, and subscribes to every
notification. The defence: without C{JUEGO_SERVICE_SECRET} the processes of one install
share a secret they generate beside the SQLite database (0600), and the services answer
nothing but C{ping} before the handshake; only C{--insecure} opens them, on loopback only.
"""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from juego.game.rules import limite_ms, minimo_humano_ms, puntos
from juego.wire import auth
from tests.processes import ServiceProcess, freePorts, serviceEnvironment, waitForPort
from tests.test_multinode import Player

#: What an attacker saves.
HUGE = 2147483647
#: Settings a default install does not have: none of them reach the processes.
UNSET = (
    "JUEGO_SERVICE_SECRET",
    "JUEGO_DATABASE_URL",
    "JUEGO_REDIS_URL",
    "MAIN_SERVER_HOST",
    "MAIN_SERVER_PORT",
    "TCP_PERSIST_HOST",
    "TCP_PERSIST_PORT",
    "TCP_PERSIST_ENDPOINT",
    "DISTRIBUTED_HOST",
    "DISTRIBUTED_PORT",
    "DISTRIBUTED_ENDPOINT",
)


def loopback(port: int) -> str:
    return f"tcp:{port}:interface=127.0.0.1"


class Stranger:
    """
    Another local process: a raw connection that has not made the handshake.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rwb")

    def send(self, *requests: dict[str, Any]) -> list[dict[str, Any]]:
        """
        Send C{requests} pipelined in one write; their replies, in order.
        """
        self.file.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        self.file.flush()
        return [json.loads(self.file.readline()) for _ in requests]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class DefaultInstallTests(SynchronousTestCase):
    """
    C{twistd juego} started from a scratch folder with no configuration (only its ports,
    so that tests can run side by side).
    """

    def setUp(self) -> None:
        self.folder = Path(self.mktemp()).resolve()
        self.folder.mkdir(parents=True)
        self.web, self.tcp, self.dist = freePorts(3)
        self.service = ServiceProcess(
            "juego",
            [
                "--web",
                loopback(self.web),
                "--tcp",
                loopback(self.tcp),
                "--dist",
                loopback(self.dist),
            ],
            str(self.folder),
            self.web,
            without=UNSET,
        )
        self.addCleanup(self.service.stop)
        self.service.start()
        waitForPort(self.tcp, self.service.process)
        waitForPort(self.dist, self.service.process)
        self.player = Player("victima@example.com", "Víctima")
        self.player.register(self.web)
        assert self.player.id is not None
        self.victim: int = self.player.id

    def stranger(self, port: int) -> Stranger:
        stranger = Stranger(port)
        self.addCleanup(stranger.close)
        return stranger

    def test_secretMadeBesideTheDatabase(self) -> None:
        instance = self.folder / "instance"
        self.assertTrue((instance / "usuarios.db").exists())
        path = instance / "service-secret"
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600)
        self.assertEqual(len(path.read_text().strip()), 64)

    def test_strangerRefusedEverythingButPing(self) -> None:
        """
        Every action an attacker wants is C{unauthorized} on a connection without the
        handshake, sent one by one or pipelined, also after failed proofs; C{ping} answers.
        """
        tcp = self.stranger(self.tcp)
        reply = tcp.send({"action": "save_score", "user_id": self.victim, "puntaje": HUGE})[0]
        self.assertEqual((reply["success"], reply["code"]), (False, "unauthorized"))
        self.assertEqual(tcp.send({"action": "ping"})[0]["message"], "pong")

        dist = self.stranger(self.dist)
        asks = [
            {"action": "get_user_stats", "user_id": self.victim},
            {"action": "get_user_stats", "user_id": self.victim, "format": "pickle_base64"},
            {"action": "get_notifications", "user_id": self.victim},
            {"action": "add_notification", "user_id": self.victim, "message": "<b>phish</b>"},
            {"action": "mark_notifications_read", "user_id": self.victim},
            {"action": "subscribe"},
            {"action": "subscribe", "user_id": self.victim},
            {"action": "get_global_stats"},
        ]
        for ask in asks:
            reply = dist.send(ask)[0]
            self.assertEqual((reply["success"], reply["code"]), (False, "unauthorized"), ask)
            self.assertNotIn("victima@", json.dumps(reply))
        self.assertEqual(dist.send({"action": "ping"})[0]["message"], "pong")

        # A burst: guessed proofs, then the writes, all in one write on one connection.
        burst = []
        for _ in range(20):
            burst.append({"action": "auth_challenge"})
            burst.append({"action": "auth", "client_nonce": auth.newNonce(), "proof": "0" * 64})
            burst.append({"action": "save_score", "user_id": self.victim, "puntaje": HUGE})
        replies = self.stranger(self.tcp).send(*burst)
        for request, reply in zip(burst, replies, strict=True):
            if request["action"] == "auth_challenge":
                self.assertTrue(reply["success"])
            else:
                self.assertEqual(reply["code"], "unauthorized", request)

        # Nothing was written: no score, no notification.
        status, ranking = self.player.request(self.web, "GET", "/api/ranking")
        self.assertEqual(status, 200)
        self.assertNotIn(HUGE, [row["puntaje_maximo"] for row in ranking["ranking"]])
        status, stats = self.player.request(self.web, "GET", "/api/stats/usuario")
        self.assertEqual(status, 200, stats)
        self.assertEqual(stats["stats"]["puntaje_maximo"], 0)
        status, notes = self.player.request(self.web, "GET", "/api/notificaciones")
        self.assertEqual(status, 200, notes)
        self.assertNotIn("phish", json.dumps(notes))

    def test_siteAndScriptWork(self) -> None:
        """
        The site reaches both services through its clients (they have the generated
        secret), and a script run from the folder, with no settings, finds it too.
        """
        status, health = self.player.request(self.web, "GET", "/api/salud")
        self.assertEqual((status, health["tcp"], health["dist"]), (200, "ok", "ok"), health)
        status, reply = self.player.request(self.web, "GET", "/api/stats/global")
        self.assertEqual(status, 200, reply)

        # A stranger tries to listen in on every player's notifications.
        spy = self.stranger(self.dist)
        for ask in ({"action": "subscribe"}, {"action": "subscribe", "user_id": self.victim}):
            self.assertEqual(spy.send(ask)[0]["code"], "unauthorized")

        puntaje = self.playOneWord()
        rows = self.eventually(
            lambda: [
                r
                for r in self.player.request(self.web, "GET", "/api/ranking")[1]["ranking"]
                if r.get("user_id") == self.victim
            ]
        )
        self.assertEqual([r["puntaje_maximo"] for r in rows], [puntaje])
        # The web's outbox told juego-dist (authenticated) of the record...
        notes = self.eventually(
            lambda: self.player.request(self.web, "GET", "/api/notificaciones")[1]["notifications"]
        )
        self.assertEqual(len(notes), 1, notes)
        # ...and the spy got no pushed event: the next line it reads is its own reply.
        self.assertEqual(spy.send({"action": "ping"}), [{"success": True, "message": "pong"}])

        script = (
            "from juego.clients import DistributedServiceClient, ScoreClient\n"
            f"ok, reply = ScoreClient().save_score({self.victim}, 1)\n"
            "print(ok, reply.get('code'))\n"
            f"ok, reply = DistributedServiceClient().get_user_stats(user_id={self.victim})\n"
            "print(ok, reply['stats']['puntaje_maximo'] if ok else reply['code'])\n"
        )
        env = serviceEnvironment(
            {"TCP_PERSIST_PORT": str(self.tcp), "DISTRIBUTED_PORT": str(self.dist)},
            without=UNSET,
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=self.folder,
            env=env,
            capture_output=True,
            timeout=60,
            text=True,
        )
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(result.stdout.splitlines(), ["True None", f"True {puntaje}"])

        # The same script from another folder has no secret: refused, cleanly.
        elsewhere = Path(self.mktemp()).resolve()
        elsewhere.mkdir(parents=True)
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            timeout=60,
            text=True,
        )
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(result.stdout.splitlines(), ["False unauthorized"] * 2)
        self.assertFalse((elsewhere / "instance").exists())  # a client makes no secret

    def eventually(self, check: Any, timeout: float = 15.0) -> Any:
        """
        Poll C{check} until it returns something truthy (the outbox drains each second).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def playOneWord(self) -> int:
        """
        Play a one-word game through the web site at a human pace; its score.
        """
        status, reply = self.player.request(self.web, "POST", "/api/partidas", {"idioma": "es"})
        self.assertEqual(status, 201, reply)
        issued = time.monotonic()
        palabra = reply["partida"]["palabras"][0]
        # Within the word's limit, slower than the fastest human.
        d = max(minimo_humano_ms(palabra) * 3, min(limite_ms(0, palabra) // 2, 1500))
        letters = max(1, len(palabra))
        teclas = [d * (k + 1) // (letters + 1) + (k * 37) % 23 for k in range(letters)]
        evento = {"t": d, "ok": True, "errores": 0, "teclas": teclas}
        # The player types for d ms of real time.
        time.sleep(max(0.0, d / 1000 - (time.monotonic() - issued)))
        status, reply = self.player.request(
            self.web,
            "POST",
            "/api/guardar_puntaje",
            {"partida_id": reply["partida"]["id"], "eventos": [evento]},
        )
        self.assertEqual(status, 200, reply)
        self.assertEqual(reply["puntaje"], puntos(0, palabra))
        return int(reply["puntaje"])


class InsecureTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.folder = Path(self.mktemp()).resolve()
        self.folder.mkdir(parents=True)

    def test_insecureRefusedBeyondLoopback(self) -> None:
        """
        C{--insecure} on an interface other machines reach: the process refuses to start
        (juego-tcp, juego-dist, and both in C{twistd juego}).
        """
        web, tcp, dist = freePorts(3)
        cases = [
            ("juego-tcp", ["--listen", f"tcp:{tcp}"], tcp),
            ("juego-dist", ["--listen", f"tcp:{dist}:interface=0.0.0.0"], dist),
            (
                "juego",
                ["--web", loopback(web), "--tcp", f"tcp:{tcp}", "--dist", loopback(dist)],
                web,
            ),
            (
                "juego",
                ["--web", loopback(web), "--tcp", loopback(tcp), "--dist", f"tcp:{dist}"],
                web,
            ),
        ]
        for plugin, args, port in cases:
            service = ServiceProcess(
                plugin, [*args, "--insecure"], str(self.folder), port, without=UNSET
            )
            self.addCleanup(service.stop)
            self.assertRaises(RuntimeError, service.start)
            assert service.process is not None
            self.assertIn("--insecure", service.process.stderr.read().decode() + service.log())
            service.process.stderr.close()
        # Refused before anything was made: no secret, no database.
        self.assertFalse((self.folder / "instance").exists())

    def test_insecureOnLoopbackIsOpenAndSaysSo(self) -> None:
        """
        C{--insecure} on loopback is the one open mode: no handshake, no secret made, and
        a warning in the log.
        """
        (port,) = freePorts(1)
        service = ServiceProcess(
            "juego-dist",
            ["--listen", loopback(port), "--insecure"],
            str(self.folder),
            port,
            without=UNSET,
        )
        self.addCleanup(service.stop)
        service.start()
        stranger = Stranger(port)
        self.addCleanup(stranger.close)
        reply = stranger.send({"action": "get_global_stats"})[0]
        self.assertTrue(reply["success"], reply)
        self.assertFalse((self.folder / "instance" / "service-secret").exists())
        deadline = time.monotonic() + 10
        while "--insecure" not in service.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("started with --insecure", service.log())
