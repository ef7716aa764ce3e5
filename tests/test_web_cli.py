"""
C{juego-admin}: create-admin and db upgrade.
"""

from __future__ import annotations

import io
import os
import sys

from argon2 import PasswordHasher
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from juego import admin
from juego.store.migrate import currentRevision, headRevision, upgrade
from juego.store.pool import makeEngine
from tests.support import sqliteURL


class CreateAdminTests(SynchronousTestCase):
    def setUp(self):
        self.url = sqliteURL(self)
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.patch(
            admin,
            "PasswordHasher",
            lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
        )

    def run_(self, *argv, answers=(), secrets=()):
        answers, secrets = list(answers), list(secrets)
        return admin.main(
            ["create-admin", *argv, "--database", self.url],
            out=self.out,
            ask=lambda prompt: answers.pop(0),
            askSecret=lambda prompt: secrets.pop(0),
            err=self.err,
        )

    def user(self, email):
        engine = makeEngine(self.url)
        self.addCleanup(engine.dispose)
        found = admin._result(admin.synchronousStore(engine).users.byEmail(email))
        return found

    def test_createsWithPrompts(self):
        code = self.run_(
            "Jefa@Example.com", answers=["<b>Jefa</b>"], secrets=["contraseña1", "contraseña1"]
        )
        self.assertEqual(code, 0)
        user, passwordHash = self.user("jefa@example.com")
        self.assertTrue(user.es_admin)
        self.assertEqual(user.nombre, "<b>Jefa</b>")
        self.assertTrue(PasswordHasher().verify(passwordHash, "contraseña1"))
        self.assertTrue(passwordHash.startswith("$argon2id$"))
        self.assertIn("jefa@example.com", self.out.getvalue())

    def test_createsWithFlags(self):
        self.assertEqual(self.run_("a@example.com", "--name", "A", "--password", "12345678"), 0)
        self.assertTrue(self.user("a@example.com")[0].es_admin)

    def test_promotesExisting(self):
        engine = makeEngine(self.url)
        self.addCleanup(engine.dispose)
        upgrade(engine)
        store = admin.synchronousStore(engine)
        admin._result(store.users.create("Ana", "ana@example.com", "h"))
        self.assertEqual(self.run_("ANA@example.com"), 0)
        user, passwordHash = self.user("ana@example.com")
        self.assertTrue(user.es_admin)
        self.assertEqual(passwordHash, "h")

    def test_mismatchedPasswords(self):
        self.assertEqual(
            self.run_("a@example.com", answers=["A"], secrets=["12345678", "87654321"]), 1
        )
        self.assertIsNone(self.user("a@example.com"))

    def test_invalid(self):
        self.assertEqual(self.run_("no-es-correo"), 1)
        self.assertIn("correo electrónico no es válido", self.err.getvalue())
        self.assertEqual(self.run_("a@example.com", "--name", "A", "--password", "corta"), 1)
        self.assertEqual(self.run_("a@example.com", "--name", "", "--password", "12345678"), 1)
        self.assertIsNone(self.user("a@example.com"))


class UpgradeTests(SynchronousTestCase):
    def test_upgrade(self):
        url = sqliteURL(self)
        out = io.StringIO()
        self.assertEqual(admin.main(["db", "upgrade", "--database", url], out=out), 0)
        engine = makeEngine(url)
        self.addCleanup(engine.dispose)
        self.assertEqual(currentRevision(engine), headRevision())
        self.assertIn(headRevision(), out.getvalue())

    def test_databaseFromEnvironment(self):
        url = sqliteURL(self)
        self.patch(os, "environ", {**os.environ, "JUEGO_DATABASE_URL": url})
        self.assertEqual(admin.main(["db", "upgrade"], out=io.StringIO()), 0)


class DriverMissingTests(SynchronousTestCase):
    """
    A database URL whose driver is not installed: one line that names the extra, from
    juego-admin and from the twistd plugins alike, instead of a traceback.
    """

    def setUp(self):
        before = sys.modules.get("psycopg")
        sys.modules["psycopg"] = None  # as if the postgres extra were not installed

        def restore():
            if before is None:
                del sys.modules["psycopg"]
            else:
                sys.modules["psycopg"] = before

        self.addCleanup(restore)
        self.url = "postgresql://juego@db.internal/juego"

    def test_admin(self):
        err = io.StringIO()
        code = admin.main(["db", "upgrade", "--database", self.url], out=io.StringIO(), err=err)
        self.assertEqual(code, 1)
        [line] = err.getvalue().splitlines()
        self.assertTrue(line.startswith("juego-admin: "), line)
        self.assertIn("pip install 'juego[postgres]'", line)

    def test_plugins(self):
        from juego.tap import openStore

        with self.assertRaises(SystemExit) as caught:
            openStore(self.url, Clock())
        message = str(caught.exception.code)
        self.assertNotIn("\n", message)
        self.assertIn("pip install 'juego[postgres]'", message)
