"""
TLS between services: juego-tcp listening on an C{ssl:} endpoint string, reached by the
Deferred client through a C{tls:} client endpoint that checks the certificate.
"""

from __future__ import annotations

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from juego.clients import ScoreServiceClient, ServiceUnavailable
from tests.processes import ServiceProcess, freePort
from tests.support import synchronousStore

SECRET = "tls-test-secret"


def selfSigned(directory: str, host: str = "localhost") -> tuple[str, str]:
    """
    A CA-less self-signed certificate for C{host} (and 127.0.0.1); its key and cert paths.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    keyPath, certPath = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    with open(keyPath, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(certPath, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return keyPath, certPath


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
            ["--listen", f"ssl:{self.port}:privateKey={key}:certKey={cert}", "--database", self.url],
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
