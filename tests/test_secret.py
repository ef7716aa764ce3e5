"""
The one owner of "which service secret" (L{juego.secret}): the environment wins, else one
generated secret per install, in a private file beside the SQLite database, made once
even when several processes start together, and refused when others could read it.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from juego import secret
from juego.clients import DistributedServiceClient, ScoreClient
from juego.secret import SecretError, readSecretFile, secretPath, serviceSecret
from juego.serialization import secret_from_env
from tests.processes import freePort

#: Processes that race to create one install's secret.
RACERS = 8


def _race(folder: str, barrier, results) -> None:
    """
    One racer (a spawned process): wait for the others, then ask for the secret.
    """
    barrier.wait(30)
    url = f"sqlite:///{folder}/juego.db"
    results.put(serviceSecret(url, environ={}, cwd=Path(folder)).decode())


class SecretFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.cwd = Path(self.mktemp()).resolve()
        self.cwd.mkdir(parents=True)

    def test_generatedBesideTheDatabase(self) -> None:
        """
        Without C{JUEGO_SERVICE_SECRET} the secret is generated once, 64 hex digits, in a
        0600 file in the folder of the SQLite database, and every later caller gets it.
        """
        value = serviceSecret(environ={}, cwd=self.cwd)
        path = self.cwd / "instance" / "service-secret"
        self.assertEqual(secretPath(environ={}, cwd=self.cwd), path)
        self.assertEqual(path.read_bytes(), value + b"\n")
        self.assertEqual(len(value), 64)
        int(value, 16)
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600)
        self.assertEqual(path.stat().st_uid, os.geteuid())
        # A second caller (another process of the install, a script) shares it.
        self.assertEqual(serviceSecret(environ={}, cwd=self.cwd), value)
        self.assertEqual(serviceSecret(environ={}, cwd=self.cwd, create=False), value)
        # Nothing else is left in the folder (no temporary file).
        self.assertEqual(sorted(p.name for p in path.parent.iterdir()), ["service-secret"])

    def test_whereTheDatabaseIs(self) -> None:
        """
        The folder follows the database: the flag, else C{JUEGO_DATABASE_URL}, else the
        working directory's (legacy C{usuarios.db} included); C{instance/} under the
        working directory for PostgreSQL or an in-memory SQLite.
        """
        other = self.cwd / "data"
        self.assertEqual(secret.secretFolder(f"sqlite:///{other}/juego.db", {}, self.cwd), other)
        self.assertEqual(
            secret.secretFolder(None, {"JUEGO_DATABASE_URL": f"sqlite:///{other}/x.db"}, self.cwd),
            other,
        )
        self.assertEqual(secret.secretFolder("sqlite:///rel/x.db", {}, self.cwd), self.cwd / "rel")
        for url in ("postgresql+psycopg://u@h/db", "sqlite://", "sqlite:///:memory:"):
            self.assertEqual(secret.secretFolder(url, {}, self.cwd), self.cwd / "instance")
        (self.cwd / "usuarios.db").write_bytes(b"")
        self.assertEqual(secret.secretFolder(None, {}, self.cwd), self.cwd)
        # Looking is not making: no folder was created on the way.
        self.assertFalse((self.cwd / "instance").exists())
        self.assertFalse(other.exists())

    def test_environmentWins(self) -> None:
        """
        C{JUEGO_SERVICE_SECRET} is the secret whatever the file says, and no file is made.
        """
        environ = {"JUEGO_SERVICE_SECRET": "contraseña"}
        self.assertEqual(serviceSecret(environ=environ, cwd=self.cwd), "contraseña".encode())
        self.assertFalse((self.cwd / "instance").exists())
        generated = serviceSecret(environ={}, cwd=self.cwd)
        self.assertEqual(serviceSecret(environ=environ, cwd=self.cwd), "contraseña".encode())
        self.assertNotEqual(generated, b"contrase\xc3\xb1a")
        # An empty variable counts as unset.
        self.assertEqual(
            serviceSecret(environ={"JUEGO_SERVICE_SECRET": ""}, cwd=self.cwd), generated
        )

    def test_clientsLookOnly(self) -> None:
        """
        C{create=False} (what clients use) finds nothing before a service made the secret,
        and makes nothing.
        """
        self.assertIsNone(serviceSecret(environ={}, cwd=self.cwd, create=False))
        self.assertEqual(list(self.cwd.iterdir()), [])

    def test_refusesFileOthersCanRead(self) -> None:
        """
        A secret file that the group or the world may read or write is refused, with a
        message that names the file and the fix.
        """
        serviceSecret(environ={}, cwd=self.cwd)
        path = secretPath(environ={}, cwd=self.cwd)
        for mode in (0o644, 0o640, 0o604, 0o620, 0o602):
            path.chmod(mode)
            for create in (True, False):
                e = self.assertRaises(
                    SecretError, serviceSecret, environ={}, cwd=self.cwd, create=create
                )
                self.assertIn(str(path), str(e))
                self.assertIn("chmod 600", str(e))

    def test_refusesFileOfAnotherUser(self) -> None:
        if os.geteuid() != 0:
            raise SkipTest("only root can give a file to another user")
        serviceSecret(environ={}, cwd=self.cwd)
        path = secretPath(environ={}, cwd=self.cwd)
        os.chown(path, 65534, 65534)
        e = self.assertRaises(SecretError, serviceSecret, environ={}, cwd=self.cwd)
        self.assertIn("uid 65534", str(e))

    def test_refusesLinksFoldersAndEmptyFiles(self) -> None:
        folder = self.cwd / "instance"
        folder.mkdir()
        path = folder / "service-secret"
        target = self.cwd / "elsewhere"
        target.write_bytes(b"abc\n")
        target.chmod(0o600)
        path.symlink_to(target)
        self.assertRaises(SecretError, readSecretFile, path)
        path.unlink()
        path.mkdir()
        self.assertRaises(SecretError, readSecretFile, path)
        path.rmdir()
        path.write_bytes(b"\n")
        path.chmod(0o600)
        self.assertRaises(SecretError, readSecretFile, path)

    def test_operatorWrittenSecret(self) -> None:
        """
        A secret the operator put in the file (0600) is used as it is, minus the newline.
        """
        folder = self.cwd / "instance"
        folder.mkdir()
        path = folder / "service-secret"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"mi-secreto\n")
        os.close(fd)
        self.assertEqual(serviceSecret(environ={}, cwd=self.cwd), b"mi-secreto")

    def test_loserReadsTheWinners(self) -> None:
        """
        A process that found no file, but lost the race to create it, uses the winner's
        secret (and leaves no temporary file behind).
        """
        winner = serviceSecret(environ={}, cwd=self.cwd)
        path = secretPath(environ={}, cwd=self.cwd)
        reads = []

        def lateRead(p: Path) -> bytes | None:
            reads.append(p)
            return None if len(reads) == 1 else readSecretFile(p)

        self.patch(secret, "readSecretFile", lateRead)
        self.assertEqual(serviceSecret(environ={}, cwd=self.cwd), winner)
        self.assertEqual(len(reads), 2)
        self.assertEqual(path.read_bytes(), winner + b"\n")
        self.assertEqual(sorted(p.name for p in path.parent.iterdir()), ["service-secret"])

    def test_concurrentCreationMakesOneSecret(self) -> None:
        """
        Several processes of one install starting together all end up with one secret.
        """
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(RACERS)
        results = context.Queue()
        racers = [
            context.Process(target=_race, args=(str(self.cwd), barrier, results))
            for _ in range(RACERS)
        ]
        for racer in racers:
            racer.start()
        try:
            seen = [results.get(timeout=60) for _ in racers]
        finally:
            for racer in racers:
                racer.join(30)
        self.assertEqual([racer.exitcode for racer in racers], [0] * RACERS)
        path = self.cwd / "service-secret"
        self.assertEqual(set(seen), {path.read_text().strip()})
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o600)
        self.assertEqual(sorted(p.name for p in self.cwd.iterdir()), ["service-secret"])

    def test_serializationReadsThroughTheOwner(self) -> None:
        self.patch(os, "environ", {"JUEGO_SERVICE_SECRET": "s"})
        self.assertEqual(secret_from_env(), b"s")


class BlockingClientSecretTests(SynchronousTestCase):
    """
    The seed's script clients find the install's secret as the services do, and an unsafe
    secret file is a failure reply, never an exception.
    """

    def setUp(self) -> None:
        self.folder = Path(self.mktemp()).resolve()
        self.folder.mkdir(parents=True)
        environ = {k: v for k, v in os.environ.items() if k != "JUEGO_SERVICE_SECRET"}
        environ["JUEGO_DATABASE_URL"] = f"sqlite:///{self.folder}/juego.db"
        self.patch(os, "environ", environ)

    def test_findsTheSecretWhenItAppears(self) -> None:
        client = ScoreClient(host="127.0.0.1", port=freePort(), timeout=1)
        self.addCleanup(client.close)
        ok, reply = client.save_score(1, 10)
        self.assertEqual((ok, reply["code"]), (False, "unavailable"))
        self.assertIsNone(client.secret)
        # The services start and make the secret: the same client now has it.
        made = serviceSecret()
        client.save_score(1, 10)
        self.assertEqual(client.secret, made)

    def test_unsafeFileIsAFailureReply(self) -> None:
        serviceSecret()
        secretPath().chmod(0o644)
        client = DistributedServiceClient(host="127.0.0.1", port=freePort(), timeout=1)
        self.addCleanup(client.close)
        ok, reply = client.get_user_stats(user_id=1)
        self.assertFalse(ok)
        self.assertEqual(reply["code"], "unauthorized")
        self.assertIn("service-secret", reply["error"])

    def test_explicitSecretIsNotLookedUp(self) -> None:
        serviceSecret()
        secretPath().chmod(0o644)
        client = DistributedServiceClient(host="127.0.0.1", port=freePort(), secret=None)
        self.assertIsNone(client.secret)
        ok, reply = client.ping()
        self.assertEqual((ok, reply["code"]), (False, "unavailable"))
