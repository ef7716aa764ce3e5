"""
The database thread pool's group commit of writes.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from twisted.trial.unittest import SynchronousTestCase

from juego.model import utcnow
from juego.store import schema as s
from juego.store.migrate import upgrade
from juego.store.pool import DBThreadPool, SynchronousReactorThreads, makeEngine
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
