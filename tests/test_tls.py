"""
TLS between services: juego-tcp listening on an C{ssl:} endpoint string, reached by the
Deferred client through a C{tls:} client endpoint that checks the certificate.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import threading
import time

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from juego.clients import ScoreServiceClient, ServiceUnavailable
from tests.processes import ServiceProcess, freePort
from tests.support import selfSigned, synchronousStore

SECRET = "tls-test-secret"


class TLSBetweenServicesTests(TestCase):
    timeout = 60

    def setUp(self):
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(self.dir, "ca"))
        self.url = f"sqlite:///{self.dir}/juego.db"
        store = synchronousStore(self, self.url)
        self.user = self.successResultOf(store.users.create("ana", "ana@example.com", "h"))
        store.engine.dispose()
        key, cert = selfSigned(self.dir)
        os.link(cert, os.path.join(self.dir, "ca", "cert.pem"))
        self.port = freePort()
        # A public-facing TLS listener is allowed because a secret is set.
        self.service = ServiceProcess(
            "juego-tcp",
            [
                "--listen",
                f"ssl:{self.port}:privateKey={key}:certKey={cert}",
                "--database",
                self.url,
            ],
            self.dir,
            self.port,
            env={"JUEGO_SERVICE_SECRET": SECRET},
        ).start()
        self.addCleanup(self.service.stop)

    async def test_saveOverTLS(self):
        endpoint = f"tls:host=localhost:port={self.port}:trustRoots={self.dir}/ca"
        client = ScoreServiceClient(reactor, endpoint, SECRET.encode())
        client.start()
        self.addCleanup(client.stop)
        reply = await client.save_score(self.user.id, 77)
        self.assertEqual((reply["success"], reply["puntaje_maximo"]), (True, 77))

    async def test_untrustedCertificateRefused(self):
        other, otherCA = os.path.join(self.dir, "other"), os.path.join(self.dir, "other-ca")
        os.makedirs(other)
        os.makedirs(otherCA)
        _, otherCert = selfSigned(other)
        os.link(otherCert, os.path.join(otherCA, "cert.pem"))
        endpoint = f"tls:host=localhost:port={self.port}:trustRoots={otherCA}"
        client = ScoreServiceClient(reactor, endpoint, SECRET.encode(), timeout=2.0)
        client.start()
        self.addCleanup(client.stop)
        with self.assertRaises(ServiceUnavailable):
            await client.save_score(self.user.id, 5)
        self.flushLoggedErrors()


class TLSStopTests(SynchronousTestCase):
    """
    A graceful stop of an C{ssl:} juego-tcp or juego-dist is as quick as a C{tcp:} one:
    each open connection's TLS shutdown completes at once instead of waiting out the
    drain's grace (it used to take 5 s: the drain stopped reading, and a TLS close waits
    to read the peer's close_notify).
    """

    def test_idleTLSScoreServiceStopsWithinASecond(self) -> None:
        self.stopsWithinASecond("juego-tcp")

    def test_idleTLSStatsServiceStopsWithinASecond(self) -> None:
        self.stopsWithinASecond("juego-dist")

    def stopsWithinASecond(self, plugin: str) -> None:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        key, cert = selfSigned(directory)
        port = freePort()
        service = ServiceProcess(
            plugin,
            [
                "--listen",
                f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}",
                "--database",
                f"sqlite:///{directory}/juego.db",
            ],
            directory,
            port,
            env={"JUEGO_SERVICE_SECRET": SECRET},
        ).start()
        self.addCleanup(service.stop)
        context = ssl.create_default_context(cafile=cert)
        context.check_hostname = False
        closedBy: list[bytes] = []

        def client(talk: bool) -> None:
            # A peer that reads, as every juego client does: it sees the server's
            # close_notify (an empty read) and closes its side.
            raw = socket.create_connection(("127.0.0.1", port), timeout=20)
            with context.wrap_socket(raw, server_hostname="localhost") as conn:
                if talk:
                    conn.sendall(b'{"action": "ping"}\n')
                    assert b'"pong"' in conn.recv(4096)
                connected.release()
                closedBy.append(conn.recv(4096))

        connected = threading.Semaphore(0)
        threads = [threading.Thread(target=client, args=(talk,)) for talk in (True, False)]
        for thread in threads:
            thread.start()
        for _ in threads:
            self.assertTrue(connected.acquire(timeout=20))
        assert service.process is not None
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        status = service.process.wait(20)
        took = time.monotonic() - started
        for thread in threads:
            thread.join(20)
        self.assertEqual(status, -signal.SIGTERM)
        self.assertLess(took, 1.0, service.log()[-2000:])
        self.assertEqual(closedBy, [b"", b""])
        self.assertNotIn("cutting off", service.log())
