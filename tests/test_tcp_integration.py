"""
A real C{twistd juego-tcp} process: the seed's own line, every bad input, still up, and a
restart that keeps the data.
"""

from __future__ import annotations

import json
import os
import socket

from twisted.trial.unittest import SynchronousTestCase

from juego.scores import MAX_LINE
from juego.secret import serviceSecret
from juego.wire import auth
from tests.processes import ServiceProcess, freePort
from tests.support import synchronousStore


class Lines:
    """
    A raw line-protocol connection; with C{secret}, it makes the service handshake first.
    """

    def __init__(self, port: int, secret: bytes | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rwb")
        if secret is not None:
            nonce = self.ask(b'{"action": "auth_challenge"}')["nonce"]
            clientNonce = auth.newNonce()
            proof = auth.clientProof(secret, nonce, clientNonce)
            request = {"action": "auth", "client_nonce": clientNonce, "proof": proof}
            reply = self.ask(json.dumps(request).encode())
            assert auth.check(auth.serverProof(secret, nonce, clientNonce), reply["proof"])

    def ask(self, line: bytes) -> dict:
        self.file.write(line + b"\n")
        self.file.flush()
        return json.loads(self.file.readline())

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class TCPServiceProcessTests(SynchronousTestCase):
    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.url = f"sqlite:///{self.dir}/juego.db"
        store = synchronousStore(self, self.url)
        self.user = self.successResultOf(store.users.create("ana", "ana@example.com", "h"))
        store.engine.dispose()
        self.port = freePort()

    def start(self) -> ServiceProcess:
        # No configuration: the service makes the install's secret beside the database.
        service = ServiceProcess(
            "juego-tcp",
            ["--listen", f"tcp:{self.port}:interface=127.0.0.1", "--database", self.url],
            self.dir,
            self.port,
            without=("JUEGO_SERVICE_SECRET", "JUEGO_DATABASE_URL"),
        )
        self.addCleanup(service.stop)
        return service.start()

    def secret(self) -> bytes:
        found = serviceSecret(self.url, environ={}, create=False)
        assert found is not None
        return found

    def test_seedLineBadInputsAndRestart(self):
        service = self.start()
        stranger = Lines(self.port)
        refused = stranger.ask(
            b'{"action": "save_score", "user_id": %d, "puntaje": 1}' % self.user.id
        )
        self.assertEqual(refused["code"], "unauthorized")
        stranger.close()
        client = Lines(self.port, self.secret())
        seed = b'{"action": "save_score", "user_id": %d, "puntaje": 100}' % self.user.id
        reply = client.ask(seed)
        self.assertEqual(
            (reply["success"], reply["nuevo_record"], reply["puntaje_maximo"]), (True, True, 100)
        )
        bad = {
            b"not json": "invalid_json",
            b"[]": "invalid_request",
            b'{"action": "fly"}': "unknown_action",
            b'{"action": "save_score", "user_id": 424242, "puntaje": 1}': "not_found",
            b'{"action": "save_score", "user_id": "x", "puntaje": 1}': "invalid_request",
        }
        for line, code in bad.items():
            self.assertEqual(client.ask(line)["code"], code)
        self.assertEqual(client.ask(b'{"action": "ping"}')["message"], "pong")
        # An oversized line: an error, then that connection closes; the service stays up.
        other = Lines(self.port, self.secret())
        other.file.write(b"x" * (MAX_LINE + 1) + b"\n")
        other.file.flush()
        self.assertEqual(json.loads(other.file.readline())["code"], "line_too_long")
        self.assertEqual(other.file.readline(), b"")
        other.close()
        self.assertEqual(client.ask(b'{"action": "ping"}')["message"], "pong")
        client.close()

        # twistd ends a SIGTERM shutdown by re-raising the signal once it is done.
        self.assertIn(service.stop(), (0, -15))
        self.assertIn("Server Shut Down", service.log())
        self.start()
        client = Lines(self.port, self.secret())
        again = client.ask(b'{"action": "save_score", "user_id": %d, "puntaje": 40}' % self.user.id)
        self.assertEqual((again["nuevo_record"], again["puntaje_maximo"]), (False, 100))
        client.close()

    def test_refusesInsecureBeyondLoopback(self):
        service = ServiceProcess(
            "juego-tcp",
            ["--listen", f"tcp:{self.port}", "--database", self.url, "--insecure"],
            self.dir,
            self.port,
            without=("JUEGO_SERVICE_SECRET",),
        )
        self.assertRaises(RuntimeError, service.start)
        self.assertIn("--insecure", service.process.stderr.read().decode() + service.log())
