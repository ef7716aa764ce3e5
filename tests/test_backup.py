"""
The runbooks of docs/OPERATIONS.md, run as an operator runs them:

  - C{juego-admin db backup} / C{db restore} on SQLite and PostgreSQL: the restored
    database has every row (each table's count before equals after) and the schema
    version; a backup that fails exits non-zero and leaves no file (never an empty one);
    a restore refuses a database that is not empty.
  - PostgreSQL's database and roles, created with the exact SQL of the runbook: the
    owner migrates, the services' role reads and writes rows but cannot change the schema.

PostgreSQL follows L{tests.support} (C{JUEGO_REQUIRE_POSTGRES}); the PostgreSQL client tools
(C{pg_dump}, C{pg_restore}) are required when C{JUEGO_REQUIRE_BACKUP_TOOLS} is set (CI).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from juego.store import Store
from juego.store.backup import BackupError, backup, restore, rowCounts
from juego.store.migrate import currentRevision, headRevision
from juego.store.pool import (
    DBThreadPool,
    SynchronousReactorThreads,
    SynchronousThreadPool,
    makeEngine,
)
from juego.store.scores import SaveRequest
from tests.processes import CHECKOUT, serviceEnvironment
from tests.support import POSTGRES_URL, postgresDatabaseURL, sqliteURL, synchronousStore

OPERATIONS = CHECKOUT / "docs" / "OPERATIONS.md"


def requireTools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (Debian: apt-get install postgresql-client)"
        if os.environ.get("JUEGO_REQUIRE_BACKUP_TOOLS"):
            raise AssertionError(f"required (JUEGO_REQUIRE_BACKUP_TOOLS) but {reason}")
        raise SkipTest(reason)


def admin(*args: str) -> subprocess.CompletedProcess[str]:
    """
    C{juego-admin ARGS}, as a process.
    """
    return subprocess.run(
        [sys.executable, "-m", "juego.admin", *args],
        env=serviceEnvironment(without=["JUEGO_DATABASE_URL"]),
        capture_output=True,
        text=True,
        timeout=120,
    )


def printedCounts(output: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"(?m)^  (\w+): (\d+)$", output)}


if TYPE_CHECKING:
    _Base = SynchronousTestCase
else:
    _Base = object


class BackupRestoreMixin(_Base):
    """
    One suite, two engines: the URLs come from the engine's class.
    """

    def databaseURL(self) -> str:
        """
        A new, empty database to back up.
        """
        raise NotImplementedError

    def freshURL(self) -> str:
        """
        A new database to restore into (for SQLite, a file that does not exist yet).
        """
        raise NotImplementedError

    def missingURL(self) -> str:
        """
        A database that does not exist.
        """
        raise NotImplementedError

    def populate(self, url: str) -> dict[str, int]:
        store = synchronousStore(self, url)
        users = [
            self.successResultOf(store.users.create(f"Jugador {i}", f"j{i}@example.com", "hash"))
            for i in range(5)
        ]
        for n, user in enumerate(users):
            requests = [SaveRequest(user.id, 10 * n + k) for k in range(3)]
            self.successResultOf(store.scores.saveBatch(requests))
            self.successResultOf(store.notifications.add(user.id, f"Hola {n} <b>"))
        engine = makeEngine(url)
        try:
            counts = rowCounts(engine)
        finally:
            engine.dispose()
        assert counts["users"] == 5 and counts["scores"] == 15, counts
        return counts

    def test_backupAndRestoreKeepEveryRow(self) -> None:
        source = self.databaseURL()
        before = self.populate(source)
        backupFile = os.path.join(os.path.abspath(self.mktemp()), "juego.backup")
        os.makedirs(os.path.dirname(backupFile))
        saved = admin("db", "backup", backupFile, "--database", source)
        self.assertEqual(saved.returncode, 0, saved.stderr)
        self.assertGreater(os.path.getsize(backupFile), 0)
        self.assertEqual(printedCounts(saved.stdout), before)
        # It holds every player's email and password hash: its owner's only.
        self.assertEqual(os.stat(backupFile).st_mode & 0o777, 0o600)

        target = self.freshURL()
        restored = admin("db", "restore", backupFile, "--database", target)
        self.assertEqual(restored.returncode, 0, restored.stderr)
        self.assertEqual(printedCounts(restored.stdout), before)
        # Neither the backup nor its restore wrote beside the backup (found by a reader
        # of the runbook: -wal and -shm files appeared next to a SQLite backup).
        self.assertEqual(os.listdir(os.path.dirname(backupFile)), ["juego.backup"])
        engine = makeEngine(target)
        try:
            self.assertEqual(rowCounts(engine), before)
            self.assertEqual(currentRevision(engine), headRevision())
            with engine.connect() as conn:
                names = sorted(
                    conn.execute(text("SELECT nombre FROM users ORDER BY nombre")).scalars()
                )
        finally:
            engine.dispose()
        self.assertEqual(names, [f"Jugador {i}" for i in range(5)])

        # The restored database works for the services: a new row goes in after the rest.
        store = synchronousStore(self, target)
        user = self.successResultOf(store.users.create("Nuevo", "nuevo@example.com", "h"))
        self.assertGreater(user.id, 5)

        # Restoring again over the restored (not empty) database is refused.
        again = admin("db", "restore", backupFile, "--database", target)
        self.assertEqual(again.returncode, 1)
        self.assertIn("juego-admin:", again.stderr)

        # An existing backup file is never overwritten.
        overwrite = admin("db", "backup", backupFile, "--database", source)
        self.assertEqual(overwrite.returncode, 1)
        self.assertIn("ya existe", overwrite.stderr)

    def test_failedBackupLeavesNoFile(self) -> None:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        backupFile = os.path.join(directory, "juego.backup")
        result = admin("db", "backup", backupFile, "--database", self.missingURL())
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("juego-admin:", result.stderr)
        self.assertEqual(os.listdir(directory), [])


class SQLiteBackupTests(BackupRestoreMixin, SynchronousTestCase):
    def databaseURL(self) -> str:
        return sqliteURL(self)

    def freshURL(self) -> str:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        return f"sqlite:///{directory}/restaurada.db"

    def missingURL(self) -> str:
        return f"sqlite:///{os.path.abspath(self.mktemp())}/no-existe.db"

    def test_backupWhileWriting(self) -> None:
        """
        The online backup API copies a consistent database while another connection
        writes (WAL mode, as the services run it).
        """
        url = sqliteURL(self)
        self.populate(url)
        path = os.path.join(os.path.abspath(self.mktemp()), "copia.db")
        os.makedirs(os.path.dirname(path))
        writer = sqlite3.connect(str(make_url(url).database), isolation_level=None)
        self.addCleanup(writer.close)
        writer.execute("UPDATE users SET nombre = 'cambiado' WHERE id = 1")  # committed
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE users SET nombre = 'a medias' WHERE id = 2")
        # A write in progress (not committed) while the backup runs.
        result = admin("db", "backup", path, "--database", url)
        writer.execute("ROLLBACK")
        self.assertEqual(result.returncode, 0, result.stderr)
        copy = create_engine(f"sqlite:///{path}")
        self.addCleanup(copy.dispose)
        with copy.connect() as conn:
            names: dict[int, str] = dict(
                conn.execute(text("SELECT id, nombre FROM users WHERE id < 3")).all()
            )
            check = conn.execute(text("PRAGMA integrity_check")).scalar_one()
        self.assertEqual((names, check), ({1: "cambiado", 2: "Jugador 1"}, "ok"))


class InProcessBackupTests(SynchronousTestCase):
    """
    L{juego.store.backup} called directly (the runbook tests above go through juego-admin
    in a subprocess): the refusals an operator meets, on SQLite.
    """

    def folder(self) -> str:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        return directory

    def test_roundTrip(self) -> None:
        url = sqliteURL(self)
        store = synchronousStore(self, url)
        self.successResultOf(store.users.create("Ana", "ana@example.com", "hash"))
        path = os.path.join(self.folder(), "copia.backup")
        backup(url, path)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        target = f"sqlite:///{self.folder()}/restaurada.db"
        restore(path, target)
        engine = create_engine(target)
        self.addCleanup(engine.dispose)
        self.assertEqual(rowCounts(engine)["users"], 1)
        # The backup is a plain file: nothing grew beside it.
        self.assertEqual(os.listdir(os.path.dirname(path)), ["copia.backup"])

    def test_refusals(self) -> None:
        url = sqliteURL(self)
        synchronousStore(self, url)
        folder = self.folder()
        taken = os.path.join(folder, "ya.backup")
        open(taken, "w").close()
        for call, words in [
            (lambda: backup(url, taken), "ya existe"),
            (lambda: backup(url, os.path.join(folder, "no", "hay.backup")), "no existe la carpeta"),
            (
                lambda: backup(
                    "sqlite:///" + os.path.join(folder, "nada.db"), os.path.join(folder, "b")
                ),
                "no existe la base",
            ),
            (lambda: backup("sqlite://", os.path.join(folder, "c")), "debe ser un archivo"),
            (lambda: backup("mysql://x@y/z", os.path.join(folder, "d")), "no sé copiar"),
            (lambda: restore(os.path.join(folder, "falta.backup"), url), "no existe la copia"),
            (lambda: restore(taken, url), "ya existe"),
            (lambda: restore(taken, "mysql://x@y/z"), "no sé restaurar"),
        ]:
            with self.assertRaises(BackupError) as caught:
                call()
            self.assertIn(words, str(caught.exception))
        # A damaged file is not copied (and leaves nothing behind).
        broken = os.path.join(folder, "rota.db")
        with open(broken, "wb") as f:
            f.write(b"SQLite format 3\x00" + b"\xff" * 4000)
        with self.assertRaises(BackupError):
            backup(f"sqlite:///{broken}", os.path.join(folder, "e"))
        self.assertFalse(os.path.exists(os.path.join(folder, "e")))


class PostgresBackupTests(BackupRestoreMixin, SynchronousTestCase):
    def setUp(self) -> None:
        requireTools("pg_dump", "pg_restore")

    def databaseURL(self) -> str:
        return postgresDatabaseURL(self, "juego_bk_")

    def freshURL(self) -> str:
        return postgresDatabaseURL(self, "juego_rs_")

    def missingURL(self) -> str:
        return (
            make_url(POSTGRES_URL)
            .set(database="no_existe_" + secrets.token_hex(4))
            .render_as_string(hide_password=False)
        )


def runbookSQL(title: str) -> str:
    """
    The SQL block that follows C{title} in docs/OPERATIONS.md.
    """
    text_ = OPERATIONS.read_text()
    start = text_.index(title)
    match = re.search(r"```sql\n(.*?)```", text_[start:], re.S)
    assert match is not None, f"no SQL after {title!r}"
    return match.group(1)


class LeastPrivilegeRolesTests(SynchronousTestCase):
    """
    The runbook's roles: C{juego_owner} owns the schema (it migrates), C{juego} (the
    services) only reads and writes rows.
    """

    def setUp(self) -> None:
        suffix = secrets.token_hex(4)
        self.owner, self.app, self.db = (
            f"juego_owner_{suffix}",
            f"juego_{suffix}",
            f"juego_{suffix}",
        )
        sql = runbookSQL("Creating the database and its roles")
        # The runbook's names, made unique (roles belong to the whole server).
        sql = re.sub(r"\bjuego_owner\b", self.owner, sql)
        sql = re.sub(r"(?<![\w.])juego(?![\w.])", self.app, sql)
        self.statements = [s.strip() for s in sql.split(";") if s.strip()]
        self.admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        try:
            with self.admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as e:
            self.admin.dispose()
            if os.environ.get("JUEGO_REQUIRE_POSTGRES"):
                raise AssertionError(f"PostgreSQL is required (CI) but failed: {e}") from e
            raise SkipTest(f"no PostgreSQL server: {e}") from e
        self.addCleanup(self.dropAll)

    def url(self, role: str) -> str:
        return (
            make_url(POSTGRES_URL)
            .set(username=role, password=None, database=self.db)
            .render_as_string(hide_password=False)
        )

    def dropAll(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'))
            for role in (self.app, self.owner):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        self.admin.dispose()

    def test_rolesFromTheRunbook(self) -> None:
        # The statements run as the runbook says: the server-wide part as postgres, the
        # rest (after "\connect") in the new database.
        current = self.admin
        for statement in self.statements:
            if statement.startswith("\\connect"):
                current = create_engine(
                    make_url(POSTGRES_URL).set(database=self.db), isolation_level="AUTOCOMMIT"
                )
                self.addCleanup(current.dispose)
                statement = statement.split("\n", 1)[1].strip() if "\n" in statement else ""
                if not statement:
                    continue
            with current.connect() as conn:
                conn.execute(text(statement))
        migrated = admin("db", "upgrade", "--database", self.url(self.owner))
        self.assertEqual(migrated.returncode, 0, migrated.stderr)

        # The services' role does its work...
        store = synchronousStore_(self, self.url(self.app))
        user = self.successResultOf(store.users.create("Ana", "ana@example.com", "h"))
        self.successResultOf(store.scores.saveBatch([SaveRequest(user.id, 12)]))
        self.successResultOf(store.notifications.add(user.id, "hola"))
        engine = makeEngine(self.url(self.app))
        self.addCleanup(engine.dispose)
        self.assertEqual(rowCounts(engine)["scores"], 1)
        self.assertEqual(currentRevision(engine), headRevision())
        # ... and nothing more: no schema changes, no new tables.
        for statement in (
            "CREATE TABLE intruso (id int)",
            "DROP TABLE scores",
            "ALTER TABLE users ADD COLUMN x int",
            "TRUNCATE scores",
        ):
            with engine.connect() as conn:
                with self.assertRaises(Exception) as raised:
                    conn.execute(text(statement))
                conn.rollback()
            message = str(raised.exception).lower()
            self.assertTrue("permission denied" in message or "must be owner" in message, message)


def synchronousStore_(case: SynchronousTestCase, url: str) -> Store:
    """
    A store on C{url} without migrating it (the services' role may not).
    """
    engine = makeEngine(url)
    case.addCleanup(engine.dispose)
    threads: Any = SynchronousReactorThreads()
    return Store(DBThreadPool(engine, threads, SynchronousThreadPool()))
