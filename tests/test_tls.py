"""
TLS between services: juego-tcp listening on an C{ssl:} endpoint string, reached by the
Deferred client through a C{tls:} client endpoint that checks the certificate.
"""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

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
