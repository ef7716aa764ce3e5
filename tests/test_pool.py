"""
The database thread pool's group commit of writes.
"""

from __future__ import annotations

import sys

from sqlalchemy import event, insert, select
from twisted.trial.unittest import SynchronousTestCase

from juego.model import utcnow
from juego.store import schema as s
from juego.store.migrate import upgrade
from juego.store.pool import (
    POSTGRES_CONNECT_ARGS,
    DBThreadPool,
    DriverMissing,
    SynchronousReactorThreads,
    makeEngine,
)
from tests.support import PostgresMixin, SQLiteMixin


class ControlledThreadPool:
    """
    Runs each piece of work (in the calling thread) only when the test says.
    """

    started = True

    def __init__(self):
        self.work = []

    def callInThreadWithCallback(self, onResult, func, *a, **kw):
        self.work.append((onResult, func, a, kw))

    def runNext(self):
        onResult, func, a, kw = self.work.pop(0)
        onResult(True, func(*a, **kw))


def addUser(nombre):
    def work(conn):
        return conn.execute(
            insert(s.users)
            .values(
                nombre=nombre,
                email=f"{nombre}@example.com",
                password_hash="h",
                es_admin=False,
                bio="",
                fecha_registro=utcnow(),
            )
            .returning(s.users.c.id)
        ).scalar_one()

    return work


def fail(conn):
    conn.execute(
        insert(s.users).values(
            nombre="x",
            email="x@example.com",
            password_hash="h",
            es_admin=False,
            bio="",
            fecha_registro=utcnow(),
        )
    )
    raise ValueError("this write fails after writing")


class GroupCommitMixin:
    def setUp(self):
        self.engine = makeEngine(self.databaseURL())
        upgrade(self.engine)
        self.addCleanup(self.engine.dispose)
        self.threads = ControlledThreadPool()
        self.pool = DBThreadPool(self.engine, SynchronousReactorThreads(), self.threads)

    def names(self):
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(s.users.c.nombre)).scalars())

    def test_writesWaitingGoTogether(self):
        first = self.pool.write(addUser("a"))
        self.assertEqual(len(self.threads.work), 1)
        later = [self.pool.write(addUser(n)) for n in "bcd"]
        self.assertEqual(len(self.threads.work), 1)  # they wait for the first commit
        self.threads.runNext()
        self.successResultOf(first)
        self.assertEqual(len(self.threads.work), 1)  # one transaction for the three
        for d in later:
            self.assertNoResult(d)  # no answer before the commit
        self.threads.runNext()
        self.assertEqual(len({self.successResultOf(d) for d in later}), 3)
        self.assertEqual(self.names(), ["a", "b", "c", "d"])

    def test_failingWriteFailsAlone(self):
        self.pool.write(addUser("a"))
        b, bad, c = (
            self.pool.write(addUser("b")),
            self.pool.write(fail),
            self.pool.write(addUser("c")),
        )
        self.threads.runNext()
        self.threads.runNext()
        self.successResultOf(b)
        self.failureResultOf(bad, ValueError)
        self.successResultOf(c)
        self.assertEqual(self.names(), ["a", "b", "c"])  # the failed write's row is gone

    def test_sharedTransactionFailsThenEachAlone(self):
        self.pool.write(addUser("a"))
        b, c = self.pool.write(addUser("b")), self.pool.write(addUser("c"))

        def broken(batch):
            raise RuntimeError("the shared transaction failed")

        self.pool._together = broken
        self.threads.runNext()
        self.threads.runNext()
        self.successResultOf(b)
        self.successResultOf(c)
        self.assertEqual(self.names(), ["a", "b", "c"])


class SQLiteGroupCommitTests(SQLiteMixin, GroupCommitMixin, SynchronousTestCase):
    pass


class PostgresGroupCommitTests(PostgresMixin, GroupCommitMixin, SynchronousTestCase):
    pass


class MakeEngineTests(SynchronousTestCase):
    def hide(self, module: str) -> None:
        """
        Make C{import module} fail until the test ends, as if it were not installed.
        """
        before = sys.modules.get(module)
        sys.modules[module] = None  # type: ignore[assignment]

        def restore() -> None:
            if before is None:
                del sys.modules[module]
            else:
                sys.modules[module] = before

        self.addCleanup(restore)

    def test_driverMissing(self):
        """
        A URL whose driver is not installed: one line naming the extra, no traceback.
        """
        self.hide("psycopg")
        with self.assertRaises(DriverMissing) as caught:
            makeEngine("postgresql://juego:secreto@db.internal/juego")
        message = str(caught.exception)
        self.assertIn("pip install 'juego[postgres]'", message)
        self.assertIn("(psycopg)", message)
        self.assertNotIn("secreto", message)
        self.assertNotIn("\n", message)

    def test_otherDriverMissing(self):
        self.hide("pg8000")
        with self.assertRaises(DriverMissing) as caught:
            makeEngine("postgresql+pg8000://db.internal/juego")
        self.assertIn("pip install pg8000", str(caught.exception))

    def connectParameters(self, url: str) -> dict:
        """
        The keyword arguments the engine of C{url} hands the driver (caught before it
        connects).
        """
        engine = makeEngine(url)
        self.addCleanup(engine.dispose)
        seen: dict = {}

        @event.listens_for(engine, "do_connect")
        def connect(dialect, record, cargs, cparams):
            seen.update(cparams)
            raise RuntimeError("not connecting")

        with self.assertRaises(RuntimeError):
            engine.connect()
        return seen

    def test_postgresTimeouts(self):
        """
        PostgreSQL connections get bounded connect and network timeouts unless the URL
        sets its own.
        """
        params = self.connectParameters("postgresql://db.internal/juego")
        for key, value in POSTGRES_CONNECT_ARGS.items():
            self.assertEqual(params[key], value, key)
        params = self.connectParameters("postgresql://db.internal/juego?connect_timeout=20")
        self.assertEqual(params["connect_timeout"], "20")
        self.assertEqual(params["tcp_user_timeout"], POSTGRES_CONNECT_ARGS["tcp_user_timeout"])
