"""
C{juego-admin}: create-admin and db upgrade.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys

from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from juego import admin
from juego.store.migrate import currentRevision, headRevision, upgrade
from juego.store.pool import makeEngine
from tests.support import postgresURL, sqliteURL


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

    def run_(self, *argv, answers=(), secrets=(), stdin="", create=True):
        answers, secrets = list(answers), list(secrets)
        return admin.main(
            ["create-admin", *argv, "--database", self.url, *(["--create"] if create else [])],
            out=self.out,
            ask=lambda prompt: answers.pop(0),
            askSecret=lambda prompt: secrets.pop(0),
            err=self.err,
            stdin=io.StringIO(stdin),
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
        self.assertEqual(code, 0, self.err.getvalue())
        self.assertEqual(code, 0)
        user, passwordHash = self.user("jefa@example.com")
        self.assertTrue(user.es_admin)
        self.assertEqual(user.nombre, "<b>Jefa</b>")
        self.assertTrue(PasswordHasher().verify(passwordHash, "contraseña1"))
        self.assertTrue(passwordHash.startswith("$argon2id$"))
        self.assertIn("jefa@example.com", self.out.getvalue())

    def test_createsWithPasswordFromStdin(self):
        code = self.run_(
            "a@example.com", "--name", "A", "--password-stdin", stdin="tortuga azul lluvia\n"
        )
        self.assertEqual(code, 0, self.err.getvalue())
        user, passwordHash = self.user("a@example.com")
        self.assertTrue(user.es_admin)
        self.assertTrue(PasswordHasher().verify(passwordHash, "tortuga azul lluvia"))

    def test_passwordInArgvRefused(self):
        code = self.run_("a@example.com", "--name", "A", "--password", "tortuga azul lluvia")
        self.assertEqual(code, 1)
        self.assertIn("--password-stdin", self.err.getvalue())
        self.assertIn("ps", self.err.getvalue())
        # Refused before anything was opened.
        self.assertFalse(os.path.exists(self.url.removeprefix("sqlite:///")))

    def test_emptyStdinRefused(self):
        self.assertEqual(self.run_("a@example.com", "--name", "A", "--password-stdin"), 1)
        self.assertIn("entrada estándar", self.err.getvalue())

    def test_passwordFromStdinWithoutName(self):
        """
        Found by a playtest: with --password-stdin and no --name, the name prompt met
        the spent standard input and ended in an EOFError traceback. Now one line that
        names --name, and a failing exit.
        """

        def ask(prompt):
            raise EOFError

        code = admin.main(
            ["create-admin", "a@example.com", "--password-stdin"]
            + ["--database", self.url, "--create"],
            out=self.out,
            ask=ask,
            err=self.err,
            stdin=io.StringIO("tortuga azul lluvia\n"),
        )
        self.assertEqual(code, 1)
        [line] = self.err.getvalue().splitlines()
        self.assertTrue(line.startswith("juego-admin: "), line)
        self.assertIn("--name", line)
        self.assertIsNone(self.user("a@example.com"))

    def test_passwordFromStdinWithoutNamePromotesExisting(self):
        """
        An existing account needs no name: --password-stdin alone makes it an admin.
        """
        engine = makeEngine(self.url)
        self.addCleanup(engine.dispose)
        upgrade(engine)
        admin._result(admin.synchronousStore(engine).users.create("Ana", "ana@example.com", "h"))
        code = self.run_("ana@example.com", "--password-stdin", stdin="tortuga azul lluvia\n")
        self.assertEqual(code, 0, self.err.getvalue())
        self.assertTrue(self.user("ana@example.com")[0].es_admin)

    def test_promptsMeetTheEndOfInput(self):
        """
        Standard input ends before the prompts are answered (no terminal): one line
        saying what to pass instead, not a traceback.
        """

        def ask(prompt):
            raise EOFError

        code = admin.main(
            ["create-admin", "a@example.com", "--database", self.url, "--create"],
            out=self.out,
            ask=ask,
            askSecret=ask,
            err=self.err,
        )
        self.assertEqual(code, 1)
        [line] = self.err.getvalue().splitlines()
        self.assertIn("--name", line)
        self.assertIn("--password-stdin", line)
        self.assertIsNone(self.user("a@example.com"))

    def test_passwordFromStdinWithoutNameInAProcess(self):
        """
        The real command, its standard input a pipe: the error line and exit 1, with no
        traceback.
        """
        result = subprocess.run(
            [sys.executable, "-m", "juego.admin", "create-admin", "a@example.com"]
            + ["--password-stdin", "--database", self.url, "--create"],
            input="tortuga azul lluvia\n",
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if k != "JUEGO_CONFIG"},
        )
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertIn("--name", result.stderr)
        self.assertIsNone(self.user("a@example.com"))

    def test_saysWhichDatabase(self):
        self.run_("a@example.com", "--name", "A", "--password-stdin", stdin="tortuga azul lluvia")
        self.assertIn(f"Base de datos: {self.url}", self.out.getvalue())

    def test_refusesToCreateADatabase(self):
        self.assertEqual(
            self.run_(
                "a@example.com",
                "--name",
                "A",
                "--password-stdin",
                stdin="tortuga azul lluvia",
                create=False,
            ),
            1,
        )
        self.assertIn("--create", self.err.getvalue())
        self.assertFalse(os.path.exists(self.url.removeprefix("sqlite:///")))

    def test_defaultDatabaseElsewhereNotCreated(self):
        """
        Run from a folder with no database: nothing is made there.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.patch(
            os, "environ", {k: v for k, v in os.environ.items() if k != "JUEGO_DATABASE_URL"}
        )
        cwd = os.getcwd()
        os.chdir(folder)
        self.addCleanup(os.chdir, cwd)
        code = admin.main(["create-admin", "a@example.com"], out=self.out, err=self.err)
        self.assertEqual(code, 1)
        self.assertIn("instance/usuarios.db", self.err.getvalue())
        self.assertEqual(os.listdir(folder), [])

    def test_weakPasswordRefused(self):
        for password in ["12345678", " " * 8, "anaadmin2"]:
            code = self.run_(
                "ana.admin@example.com",
                "--name",
                "Ana",
                "--password-stdin",
                stdin=password + "\n",
            )
            self.assertEqual(code, 1, password)
        self.assertIn("fácil de adivinar", self.err.getvalue())
        self.assertIsNone(self.user("ana.admin@example.com"))

    def test_promotesExisting(self):
        engine = makeEngine(self.url)
        self.addCleanup(engine.dispose)
        upgrade(engine)
        store = admin.synchronousStore(engine)
        admin._result(store.users.create("Ana", "ana@example.com", "h"))
        # The database exists: no --create needed.
        self.assertEqual(self.run_("ANA@example.com", create=False), 0)
        user, passwordHash = self.user("ana@example.com")
        self.assertTrue(user.es_admin)
        self.assertEqual(passwordHash, "h")

    def test_mismatchedPasswords(self):
        self.assertEqual(
            self.run_("a@example.com", answers=["A"], secrets=["tortuga azul", "tortuga verde"]),
            1,
        )
        self.assertIsNone(self.user("a@example.com"))

    def test_invalid(self):
        self.assertEqual(self.run_("no-es-correo"), 1)
        self.assertIn("correo electrónico no es válido", self.err.getvalue())
        self.assertEqual(
            self.run_("a@example.com", "--name", "A", "--password-stdin", stdin="corta"), 1
        )
        self.assertEqual(
            self.run_("a@example.com", "--name", "", "--password-stdin", stdin="tortuga azul"), 1
        )
        self.assertIsNone(self.user("a@example.com"))


class UpgradeTests(SynchronousTestCase):
    def test_upgrade(self):
        url = sqliteURL(self)
        out = io.StringIO()
        err = io.StringIO()
        self.assertEqual(admin.main(["db", "upgrade", "--database", url], out=out, err=err), 1)
        self.assertIn("--create", err.getvalue())
        self.assertEqual(admin.main(["db", "upgrade", "--database", url, "--create"], out=out), 0)
        engine = makeEngine(url)
        self.addCleanup(engine.dispose)
        self.assertEqual(currentRevision(engine), headRevision())
        self.assertIn(headRevision(), out.getvalue())

    def test_databaseFromEnvironment(self):
        url = sqliteURL(self)
        self.patch(os, "environ", {**os.environ, "JUEGO_DATABASE_URL": url})
        self.assertEqual(admin.main(["db", "upgrade", "--create"], out=io.StringIO()), 0)


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


class OneLineErrorTests(SynchronousTestCase):
    """
    Found by a reader of the runbooks: an old schema and a role without the rights to
    migrate ended in tracebacks. Each is now one line that says what to do.
    """

    def test_serviceOnAnOldSchema(self):
        from juego.tap import openStore

        url = postgresURL(self)
        engine = makeEngine(url)
        self.addCleanup(engine.dispose)
        upgrade(engine, "0002")
        with self.assertRaises(SystemExit) as caught:
            openStore(url, Clock())
        message = str(caught.exception.code)
        self.assertNotIn("\n", message)
        self.assertIn("juego-admin db upgrade", message)

    def test_upgradeWithoutTheRights(self):
        url = postgresURL(self)
        owner = makeEngine(url)
        self.addCleanup(owner.dispose)
        upgrade(owner, "0002")
        role = "juego_t_" + secrets.token_hex(4)
        with owner.begin() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        self.addCleanup(self.dropRole, owner, role)
        weak = make_url(url).set(username=role).render_as_string(hide_password=False)
        err = io.StringIO()
        code = admin.main(["db", "upgrade", "--database", weak], out=io.StringIO(), err=err)
        self.assertEqual(code, 1)
        [line] = err.getvalue().splitlines()[-1:]
        self.assertTrue(line.startswith("juego-admin: la base de datos lo rechazó: "), line)
        self.assertEqual(len(err.getvalue().splitlines()), 1, err.getvalue())

    def dropRole(self, engine, role):
        with engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
